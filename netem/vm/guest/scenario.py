"""A scenario's matrix inside the VM: `python3 -m netem.vm.guest.scenario` (spec in $QOSLAB_SCENARIO_SPEC).

Wires the namespaces, starts the real server and proxy (content like the server image's, without the
100 MiB file), and runs `netem.commands.scenario.run_matrix`: each profile applied on every link end with
`netem.core.engine` (cleared at the end), the client run in the client namespace per test and repetition.
Prints every row on `netem.vm.channel.SCENARIO`, then the row count; the host writes the report.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from netem.commands.scenario import RUN_TIMEOUT_S, run_matrix
from netem.core.engine import apply_ends, clear_targets
from netem.core.errors import NetemError
from netem.core.expect import parse_rows
from netem.core.profile import Profile, parse_profile
from netem.vm.channel import SCENARIO
from netem.vm.guest import netns, stack
from netem.vm.spec import CLIENT_ENV, SPEC_ENV, decode_spec, translate_all
from services.server import content

SIZES = {"1MiB.bin": 1 << 20, "10MiB.bin": 10 << 20}  # 100 MiB would not fit the VM's RAM comfortably
WARMUP_ARGS = ("qos", "--count", "20", "--interval", "10ms")


def say(text: str) -> None:
    print(text, flush=True)


def make_www(root: Path) -> Path:
    (root / "index.html").write_text("<!doctype html><h1>qoslab (vm)</h1>\n")
    content.generate(str(root), SIZES)
    return root


def client_argv(test: str, profile: str, label: str, extra: Sequence[str]) -> list[str]:
    return stack.in_ns("client", ["services.client", test, "--profile", profile, "--label", label, "--json",
                                  *translate_all(extra)])


def run_client(argv: list[str], what: str) -> list[dict[str, Any]]:
    """The client with the namespace addresses as its defaults; exit 1 (a failed check) still counts."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False,
                              env={**os.environ, **CLIENT_ENV})
    except subprocess.TimeoutExpired as exc:
        raise NetemError(f"client {what} timed out after {RUN_TIMEOUT_S:g}s") from exc
    rows = parse_rows(done.stdout)
    if done.returncode not in (0, 1) or not rows:
        raise NetemError(f"client {what} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return rows


def main() -> int:
    try:
        return run_spec(os.environ[SPEC_ENV])
    except NetemError as exc:
        print(f"scenario: {exc}", file=sys.stderr, flush=True)
        return 1


def run_spec(spec: str) -> int:
    scenario, texts = decode_spec(spec)
    profiles: dict[str, Profile] = {name: parse_profile(yaml.safe_load(text), name, Path(name).stem)
                                    for name, text in texts.items()}

    def apply(profile: str) -> None:
        states = apply_ends(netns.targets(), profiles[profile].ends)
        say(f"  {profile} in force: { {k: s.kind if s else 'none' for k, s in states.items()} }")

    def clear() -> None:
        clear_targets(netns.targets())

    def client(profile: str, test: str, extra: list[str]) -> list[dict[str, Any]]:
        return run_client(client_argv(test, profile, scenario.label, extra), f"{test} under {profile}")

    netns.setup()
    try:
        with tempfile.TemporaryDirectory(prefix="qoslab-www-") as tmp, stack.services(make_www(Path(tmp))):
            run_client(client_argv(WARMUP_ARGS[0], "warmup", "warmup", WARMUP_ARGS[1:]), "warm-up")
            rows = run_matrix(scenario, apply, clear, client, say)
    finally:
        netns.teardown()
    for row in rows:
        say(SCENARIO.row_line(row))
    say(SCENARIO.count_line(len(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
