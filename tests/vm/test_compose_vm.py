"""The compose stack with real netem inside the QEMU VM, in Docker: one boot, one pytest session, one
stack for every check that measures netem between the containers (the `netem_stack` fixture).

On a kernel without sch_netem this is where the headline path runs: the project's images, entrypoint,
`netem.commands.startup`, the Docker-SDK controller and the client, under a stock Debian kernel. The
same files run natively on kernels that have netem. Runs only when asked for (QOSLAB_VM=1, set by
scripts/test) and needs the images built on the host (scripts/test builds them).

A new check that needs real netem joins by using `netem_stack` in its test and adding the test (a file
or a node id) to TESTS below and its count to MIN_PASSED: it then costs its own measurements only, not
a boot or a stack (docs/vm.md, "Adding a check to the VM session").
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from netem.vm.host import build
from netem.vm.host.boot import IDLE_POLL_ENV
from netem.vm.host.cache import repo_root

pytestmark = [pytest.mark.vm, pytest.mark.slow, pytest.mark.compose]
TRACES = "tests/compose/test_traces.py::"
TESTS = ("tests/compose/test_netem_profiles.py",
         "tests/compose/test_capture.py::test_a_netem_delay_on_the_edge_shows_between_each_probe_and_its_reply",
         "tests/compose/test_queue_profiles.py",
         f"{TRACES}test_a_client_started_after_apply_shapes_its_end_and_names_the_profile",
         f"{TRACES}test_record_replay_record_meets_the_fidelity_goal",
         f"{TRACES}test_a_per_destination_rule_delays_one_pair_and_leaves_the_other",
         "tests/integration/netem/test_netlink_kernel.py")
MIN_PASSED = 15  # the profile file (7), the capture delay test, the queue pair, three of the traces file, the
# netlink file's three (each change read back from the kernel, a replayed trace on time, a queue dump; in a
# namespace of the guest, since natively here the kernel refuses netem and the middle one cannot run). The
# queue suite boots its own VM: tests/vm/test_bloat.py says why. The traces file's plateau and 12-replica
# tests join once they hold under TCG here (docs/traces.md: on 2026-12-07 both passed in a boot of their
# own, twice for the plateau, but the plateau failed in this session: a 1.5 s dip of the replies' rate).
# tests/compose/test_ipv6_netem.py (IPv4 vs IPv6 rows of one netem profile, ~190 s in a boot of its own)
# joins once its IPv4 RTT band holds under TCG here: see docs/vm.md
DURATION = re.compile(r"\d+\.\d+s (setup|call|teardown) ")  # --durations lines: where the VM's time goes
TIMEOUT_S = 1200  # about 12 min under TCG on a quiet host; a stall names itself long before this


def test_netem_profile_tests_pass_in_containers_in_the_vm(image: build.Image) -> None:
    argv = [sys.executable, "-m", "netem.vm", "run", "--docker", "--tests", "--no-build",
            "--timeout", str(TIMEOUT_S), "--", "python3", "-m", "pytest", *TESTS, "-v", "-s", "-rA",
            "--durations=0", "-p", "no:cacheprovider"]
    # the guest polls when idle: jittered delays' timers fire as promptly as the references' (boot.py)
    done = subprocess.run(argv, cwd=repo_root(), capture_output=True, text=True, timeout=TIMEOUT_S + 300,
                          check=False, env={**os.environ, IDLE_POLL_ENV: "1"})
    console = done.stdout + done.stderr
    print(console[-20000:])
    # every check table and measured figure of the session, whatever the length of the console
    figures = ("| ", "capture gaps", "controller", "after clear", "netem capability", "loss runs",
               "replayed trace", "per-destination rule", "fidelity:")
    print("\n".join(line for line in console.splitlines() if line.startswith(figures)))
    print("\n".join(line for line in console.splitlines() if DURATION.match(line)))
    assert done.returncode == 0, console[-4000:] + failed_checks(console)
    summary = re.search(r"=+ (\d+) passed(?:, \d+ warnings?)? in ", console)
    assert summary and int(summary.group(1)) >= MIN_PASSED, "every test asked for must run and pass in the VM"
    assert f"PASSED {TESTS[1]}" in console  # -rA summary line (with -s, prints split the -v line)
    assert "netem capability: sch_netem works" in console


def failed_checks(console: str) -> str:
    """The failing check rows, the loss runs of their cases and the failed test ids of a session, once each,
    for the end of the failure message: what CI keeps of a long message is its tail."""
    lines = [line.removeprefix("E").strip() for line in console.splitlines()]
    rows = [line for line in lines if line.startswith("|") and line.endswith("| NO |")]
    cases = {row.split("|")[1].strip() for row in rows}
    wanted = rows + [line for line in lines if line.startswith("FAILED ")
                     or any(line.startswith(f"loss runs of {case}:") for case in cases)]
    return "\nfailed checks of the VM session:\n" + "\n".join(dict.fromkeys(wanted))
