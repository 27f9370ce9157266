"""`python -m netem.vm scenario scenarios/NAME.yaml`: a scenario's matrix in the VM, its report on the host.

The host loads and validates the scenario, and sends it with the text of every profile it names as one
JSON spec (an environment variable of the VM's run script), so scenarios and profiles need not be in the
checkout. Inside, `netem.vm.scenario_guest` runs `netem.scenario.run_matrix` against the namespace stack and
prints each row behind ROW_MARKER. The host collects those rows and writes the usual report
(`netem.report_files.write`: Markdown, PNG, JSONL). Compose names in client arguments (`proxy:8080`,
`http://proxy:8080/…`) become the namespace addresses, the same as compose's.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from netem import report_files, topology
from netem.errors import ScenarioError
from netem.profile import resolve_path
from netem.scenario import Scenario, load_scenario
from netem.vm import boot
from netem.vm.build import Image
from netem.vm.console import Channel, Console

SPEC_ENV = "QOSLAB_SCENARIO_SPEC"
ROW_MARKER = "QOSLAB-SCENARIO-ROW "
COUNT_MARKER = "QOSLAB-SCENARIO-ROWS="
CHANNEL = Channel(ROW_MARKER, COUNT_MARKER)
SCENARIO_CMD = ["python3", "-m", "netem.vm.scenario_guest"]
ADDRESSES = {service: topology.address(service) for service in topology.SERVICES}  # as compose's DNS
CLIENT_ENV = {"CLIENT_PROXY": topology.endpoint("proxy", "http"),
              "CLIENT_URL": f"http://{topology.endpoint('proxy', 'http')}/index.html",
              "CLIENT_UDP_TARGET": topology.endpoint("proxy", "udp"), "CLIENT_CSV": "",
              "CLIENT_SAME_CLOCK": "true"}  # the namespaces share the VM's kernel clock
_HOST = re.compile(r"(^|://|=)(" + "|".join(ADDRESSES) + r")(?=:[0-9]|/|$)")


def translate(arg: str) -> str:
    """A compose service name as the host of `HOST:PORT` or a URL → its address; anything else as is."""
    if "://" not in arg and ":" not in arg:
        return arg  # a bare word ("proxy" as a value) is not an address
    return _HOST.sub(lambda m: m.group(1) + ADDRESSES[m.group(2)], arg, count=1)


def translate_all(args: Iterable[str]) -> list[str]:
    return [translate(a) for a in args]


def encode_spec(scenario: Scenario, profile_texts: dict[str, str]) -> str:
    """The scenario and the YAML text of each of its profiles, as one ASCII JSON line."""
    return json.dumps({"scenario": asdict(scenario), "profiles": profile_texts}, sort_keys=True)


def decode_spec(text: str) -> tuple[Scenario, dict[str, str]]:
    raw = json.loads(text)
    fields = raw["scenario"]
    for key in ("profiles", "tests"):
        fields[key] = tuple(fields[key])
    return Scenario(**fields), {str(k): str(v) for k, v in raw["profiles"].items()}


def row_line(row: dict[str, Any]) -> str:
    return CHANNEL.row_line(row)


def parse_console(text: str) -> tuple[list[dict[str, Any]], int | None]:
    """Console text → (the rows behind ROW_MARKER, the row count the VM announced or None)."""
    return CHANNEL.parse(text)


def spec_for(path: str) -> tuple[Scenario, str]:
    """Load and validate the scenario on the host; → (it, the spec for the VM)."""
    scenario = load_scenario(path)
    if scenario.capture:  # the guest has no tcpdump: say so rather than run without the captures
        raise ScenarioError(path, "capture", scenario.capture, "not available in the VM (no tcpdump in the "
                            "guest); capture runs on the compose stack (python -m netem scenario run)")
    texts = {p: resolve_path(p).read_text(encoding="utf-8") for p in scenario.profiles}
    return scenario, encode_spec(scenario, texts)


def run(image: Image, scenario: Scenario, spec: str, out_dir: Path, *, timeout_s: float,
        echo: TextIO = sys.stderr) -> tuple[int, list[Path]]:
    """Boot, run the matrix inside, write the report from the rows; → (exit code, files written)."""
    console = Console(echo, [CHANNEL])
    result = boot.run(image, SCENARIO_CMD, timeout_s=timeout_s, env={SPEC_ENV: spec}, out=console)
    echo.write(f"qoslab-vm: exit {result.exit_code}; total {result.total_s:.1f}s\n")
    rows, count = parse_console(console.getvalue())
    if not rows:
        echo.write(f"qoslab-vm: no result rows from the VM (exit {result.exit_code})\n")
        return result.exit_code or 1, []
    if count != len(rows):
        echo.write(f"qoslab-vm: the VM announced {count} rows, {len(rows)} arrived intact\n")
    written = report_files.write(scenario.name, rows, out_dir)
    ok = result.exit_code == 0 and count == len(rows)
    return (0 if ok else result.exit_code or 1), written
