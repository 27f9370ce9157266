"""`python -m netem.vm scenario scenarios/NAME.yaml`: a scenario's matrix in the VM, its report on the host.

The host loads and validates the scenario and sends it as one spec (`netem.vm.spec`). Inside,
`netem.vm.guest.scenario` runs `netem.commands.scenario.run_matrix` against the namespace stack and prints
each row on `channel.SCENARIO`. The host collects those rows and writes the usual report
(`netem.commands.report_files.write`: Markdown, PNG, JSONL).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TextIO

from netem.commands import report_files
from netem.commands.scenario import Scenario, load_scenario
from netem.core.errors import ScenarioError
from netem.core.fields import custom_table
from netem.core.profile import resolve_path
from netem.traces.load import load
from netem.vm.channel import SCENARIO
from netem.vm.host import boot
from netem.vm.host.build import Image
from netem.vm.host.console import Console
from netem.vm.spec import SPEC_ENV, encode_spec

SCENARIO_CMD = ["python3", "-m", "netem.vm.guest.scenario"]


def parse_console(text: str) -> tuple[list[dict[str, Any]], int | None]:
    """Console text → (the rows behind the scenario channel's marker, the row count announced or None)."""
    return SCENARIO.parse(text)


def spec_for(path: str) -> tuple[Scenario, str]:
    """Load and validate the scenario on the host; → (it, the spec for the VM)."""
    scenario = load_scenario(path)
    if scenario.capture:  # the guest has no tcpdump: say so rather than run without the captures
        raise ScenarioError(path, "capture", scenario.capture, "not available in the VM (no tcpdump in the "
                            "guest); capture runs on the compose stack (python -m netem scenario run)")
    for name in scenario.profiles:  # the namespace stack has no netem agent: say so, never apply half
        profile = load(name).profile
        dynamic = [key for key, imp in profile.all_settings() if imp.trace or custom_table(imp)]
        if dynamic or profile.destinations or profile.clients:
            raise ScenarioError(path, "profiles", name, "traces, table files, to: rules and client mixes "
                                "need the compose stack: python -m netem.vm run --docker -- python3 -m "
                                "netem scenario run FILE")
    texts = {p: resolve_path(p).read_text(encoding="utf-8") for p in scenario.profiles}
    return scenario, encode_spec(scenario, texts)


def run(image: Image, scenario: Scenario, spec: str, out_dir: Path, *, timeout_s: float,
        echo: TextIO = sys.stderr) -> tuple[int, list[Path]]:
    """Boot, run the matrix inside, write the report from the rows; → (exit code, files written)."""
    console = Console(echo, [SCENARIO])
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
