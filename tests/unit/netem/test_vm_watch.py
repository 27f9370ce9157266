"""A VM run that stalls names itself: the guest's heartbeat, the host's silence report (no QEMU)."""

from __future__ import annotations

import io
import queue

from netem.vm.host import boot, initscript


def test_silence_is_reported_once_with_the_last_line_and_heartbeat() -> None:
    watch = boot.Watch(started=100.0, last_line_at=100.0)
    watch.saw("QOSLAB-VM-BEAT uptime_s=40 step_s=20 load=1.5 step=pytest tests/x.py::test_y\n", 110.0)
    watch.saw("compose: creating network\n", 111.0)
    assert watch.silence(111.0 + boot.SILENCE_S - 1) is None
    report = watch.silence(111.0 + boot.SILENCE_S)
    assert report is not None and f"no console output for {boot.SILENCE_S:.0f} s" in report
    assert "compose: creating network" in report and "step=pytest tests/x.py::test_y" in report
    assert watch.silence(111.0 + 2 * boot.SILENCE_S) is None  # once per silence
    watch.saw("more\n", 200.0)
    assert watch.silence(200.0 + boot.SILENCE_S) is not None
    assert "step=pytest tests/x.py::test_y" in watch.where()


def test_the_console_stops_at_qemus_end_with_the_commands_exit_code() -> None:
    lines: queue.Queue[str | None] = queue.Queue()
    for line in ("\x1bcSeaBIOS\r\n", f"{initscript.READY_MARKER} uptime_s=3\n",
                 f"{initscript.EXIT_MARKER}7\n", None):
        lines.put(line)
    out = io.StringIO()
    code, ready, watch = boot.stream_console(lines, deadline=1e12, out=out, started=0.0)
    assert code == 7 and ready is not None
    assert out.getvalue().startswith("SeaBIOS\n")  # escapes and carriage returns gone
    assert watch.last_line == f"{initscript.EXIT_MARKER}7"


def test_the_guest_watchdog_beats_names_its_step_and_lists_processes_on_a_long_one() -> None:
    init = initscript.INIT
    assert init.index("watchdog &") < init.index("sh /qoslab-vm/run.sh")
    assert f"while sleep {initscript.BEAT_S}" in init and initscript.BEAT_MARKER in init
    assert f"$held -ge {initscript.STALL_S}" in init and "ps -N --ppid 2" in init and "docker ps -a" in init
    assert f"export {initscript.STEP_ENV}={initscript.STEP_FILE}" in init
    docker = initscript.docker_script("true\n")
    assert docker.index(f"> {initscript.STEP_FILE}") < docker.index("dockerd --data-root")
