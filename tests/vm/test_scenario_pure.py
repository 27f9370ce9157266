"""The VM scenario runner's pure parts, and its host side with a fake boot (no QEMU, no root)."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import pytest

from netem import topology
from netem.core.errors import ScenarioError
from netem.vm.channel import SCENARIO as ROWS
from netem.vm.guest import scenario as guest_scenario
from netem.vm.host import boot, build, cli
from netem.vm.host import scenario as vm_scenario
from netem.vm.host.scenario import parse_console, spec_for
from netem.vm.spec import SPEC_ENV, decode_spec, translate

REPO = Path(__file__).resolve().parents[2]
PROXY, SERVER = topology.address("proxy"), topology.address("server")
HTTP, RELAY = topology.port("proxy", "http"), topology.port("proxy", "udp")
ECHO = topology.port("server", "udp")
SCENARIO = """description: two profiles
profiles: [none, {profile}]
tests: [qos, http]
repetitions: 2
client_args: {{http: ["http://{proxy}/generated/1MiB.bin", "--repeat", "2"]}}
"""


@pytest.mark.parametrize(("arg", "want"), [
    (f"proxy:{HTTP}", f"{PROXY}:{HTTP}"),
    (f"http://proxy:{HTTP}/generated/1MiB.bin", f"http://{PROXY}:{HTTP}/generated/1MiB.bin"),
    ("http://proxy/index.html", f"http://{PROXY}/index.html"),
    (f"--target=proxy:{RELAY}", f"--target={PROXY}:{RELAY}"),
    (f"server:{ECHO}", f"{SERVER}:{ECHO}"),
    ("proxy", "proxy"), ("--proxy", "--proxy"), ("none", "none"), ("10ms", "10ms"),
    ("myproxy:80", "myproxy:80"), ("http://proxy.example:80/", "http://proxy.example:80/"),
    ("http://example.com/proxy:1", "http://example.com/proxy:1"),
])
def test_translate_compose_names_to_namespace_addresses(arg: str, want: str) -> None:
    assert translate(arg) == want


def test_client_argv_runs_in_the_client_namespace_with_translated_args() -> None:
    argv = guest_scenario.client_argv("http", "4g", "lab", [f"http://proxy:{HTTP}/x", "--repeat", "2"])
    assert argv[:4] == ["ip", "netns", "exec", "client"]
    assert argv[5:] == ["-m", "services.client", "http", "--profile", "4g", "--label", "lab", "--json",
                        f"http://{PROXY}:{HTTP}/x", "--repeat", "2"]


def test_spec_round_trip_carries_the_profile_texts(tmp_path: Path) -> None:
    profile = tmp_path / "slow.yaml"
    profile.write_text("description: slow\nedge: {delay: 40ms}\n")
    path = tmp_path / "two.yaml"
    path.write_text(SCENARIO.format(profile=profile, proxy=topology.named_endpoint("proxy", "http")))
    scenario, spec = spec_for(str(path))
    assert spec.isascii() and "\n" not in spec
    again, texts = decode_spec(spec)
    assert again == scenario and again.name == "two" and again.repetitions == 2
    none = (REPO / "netem/profiles/none.yaml").read_text()
    assert texts == {"none": none, str(profile): profile.read_text()}


def test_parse_console_finds_rows_anywhere_and_skips_mangled_ones() -> None:
    rows: list[dict[str, Any]] = [{"kind": "qos", "profile": "none", "rtt_mean_ms": 4.2},
                                  {"kind": "http", "profile": "x"}]
    console = "\n".join(["boot noise", ROWS.row_line(rows[0]), "[ 9.1] " + ROWS.row_line(rows[1]),
                         ROWS.row + '{"kind": "qo', "QOSLAB-SCENARIO-ROWS=3\r", "QOSLAB-VM-EXIT=0"])
    assert parse_console(console) == (rows, 3)
    assert parse_console("nothing here") == ([], None)


class FakeBoot:
    """Stands in for `boot.run`: prints the rows a VM run would, records the environment it got."""

    def __init__(self, rows: Sequence[dict[str, Any]], exit_code: int = 0) -> None:
        self.rows, self.exit_code = rows, exit_code
        self.env: dict[str, str] = {}

    def __call__(self, image: build.Image, argv: Sequence[str], *, timeout_s: float,
                 env: Mapping[str, str] | None = None, out: TextIO) -> boot.BootResult:
        self.env = dict(env or {})
        out.write("QOSLAB-VM-READY\n")
        for row in self.rows:
            out.write(ROWS.row_line(row) + "\n")
        out.write(f"QOSLAB-SCENARIO-ROWS={len(self.rows)}\nQOSLAB-VM-EXIT={self.exit_code}\n")
        return boot.BootResult(self.exit_code, 1.0, 2.0)


def test_run_writes_the_report_from_the_vm_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [{"kind": "qos", "profile": "none", "repetition": 1, "rtt_mean_ms": 5.0, "loss_pct": 0.0},
            {"kind": "qos", "profile": "4g", "repetition": 1, "rtt_mean_ms": 56.0, "loss_pct": 0.2}]
    fake = FakeBoot(rows)
    monkeypatch.setattr(boot, "run", fake)
    path = tmp_path / "demo.yaml"
    path.write_text("description: d\nprofiles: [none, 4g]\n")
    scenario, spec = spec_for(str(path))
    image = build.Image(tmp_path / "vmlinuz", (), "k")
    echo = io.StringIO()
    code, written = vm_scenario.run(image, scenario, spec, tmp_path / "out", timeout_s=5, echo=echo)
    assert code == 0 and fake.env == {SPEC_ENV: spec}
    md = (tmp_path / "out" / "scenario-demo.md").read_text()
    assert written[0].name == "scenario-demo.md" and "| 4g | 50 | 56 | +6 |" in md and "| none |" in md
    jsonl = (tmp_path / "out" / "scenario-demo.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in jsonl] == rows
    assert ROWS.row not in echo.getvalue() and "QOSLAB-VM-READY" in echo.getvalue()


def test_run_without_rows_fails_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(boot, "run", FakeBoot([], exit_code=1))
    path = tmp_path / "demo.yaml"
    path.write_text("description: d\nprofiles: [none]\n")
    scenario, spec = spec_for(str(path))
    image = build.Image(tmp_path / "vmlinuz", (), "k")
    code, written = vm_scenario.run(image, scenario, spec, tmp_path / "out", timeout_s=5, echo=io.StringIO())
    assert code == 1 and written == [] and not (tmp_path / "out").exists()


def test_cli_rejects_an_invalid_scenario_before_building(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    def no_build(**_: object) -> build.Image:
        raise AssertionError("built the image for an invalid scenario")

    monkeypatch.setattr(build, "build", no_build)
    path = tmp_path / "bad.yaml"
    path.write_text("description: d\nprofiles: [no-such-profile]\n")
    assert cli.main(["scenario", str(path)]) == 2
    assert "no-such-profile" in capsys.readouterr().err


def test_capture_is_refused_in_the_vm_rather_than_ignored(tmp_path: Path) -> None:
    path = tmp_path / "captured.yaml"
    path.write_text("profiles: [none]\ntests: [qos]\ncapture: edge\n")
    with pytest.raises(ScenarioError, match="capture: invalid value 'edge': not available in the VM"):
        spec_for(str(path))
