"""`python -m netem.vm run -- CMD…`: boot the image under QEMU, stream the serial console, return CMD's code.

The run layer (the command as /qoslab-vm/run.sh) is one more cpio after the image's layers, all copied into
one initrd in a temp dir. QEMU is killed on timeout and on Ctrl-C; the temp dir is always removed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from netem.vm.channel import ACCEL_USED_ENV
from netem.vm.errors import VmError
from netem.vm.host import cpio, initscript
from netem.vm.host.accel import Accel, resolve
from netem.vm.host.build import Image
from netem.vm.host.cache import cache_dir

QEMU = "qemu-system-x86_64"
MEMORY_ENV = "QOSLAB_VM_MEMORY"  # guest memory, QEMU syntax (default DEFAULT_MEMORY)
DEFAULT_MEMORY = "4G"  # the root file system (Docker included) lives in RAM; the host has plenty
EXIT_TIMEOUT = 124
EXIT_NO_MARKER = 125
ANSI_ESCAPE = re.compile(r"\x1b(\[[0-9;?]*[A-Za-z]|c)")  # SeaBIOS clears the screen
KERNEL_ARGS = "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init tsc=reliable"
# QOSLAB_VM_IDLE_POLL=1: the guest kernel polls when idle (idle=poll) instead of halting. Under TCG a halted
# vCPU wakes late for a timer, so a jittered netem delay (timers at random phases, often while the guest
# idles) read high against references whose timers fire while the probes' own work runs: 4g's excess over
# the model +1.42 -> +0.71 ms (quiet host, three jittered runs each; docs/vm.md). Only for the compose
# session's delay checks: the queue suite needs the CPU an idle vCPU then spins on (its FIFO read 268 ms
# of the 351 its formula expects, as iperf3's TCP did not keep the queue full).
IDLE_POLL_ENV = "QOSLAB_VM_IDLE_POLL"

# QOSLAB_VM_NICE: QEMU's scheduling priority (default -19, where permitted: root or CAP_SYS_NICE). Under TCG
# every guest timer is a host thread's work; on a host busy with other jobs those threads wait their turn
# and netem's timers fire late by the wait, by an amount that changes with the other jobs (lan's 1 ms
# reference read 30-34 ms at load 11 at nice 0; at -10 one profile of eight still missed, its references
# 5 ms apart from its own run; at -19 all eight held, references within 0.8 ms: docs/vm.md). 0 leaves the
# inherited priority.
NICE_ENV = "QOSLAB_VM_NICE"
DEFAULT_NICE = -19


def qemu_nice(environ: Mapping[str, str]) -> int:
    """The niceness asked for QEMU: QOSLAB_VM_NICE, an integer -20..19, else DEFAULT_NICE."""
    raw = environ.get(NICE_ENV, "").strip()
    if not raw:
        return DEFAULT_NICE
    try:
        value = int(raw)
    except ValueError:
        raise VmError(f"{NICE_ENV}={raw!r}: expected an integer from -20 to 19") from None
    if not -20 <= value <= 19:
        raise VmError(f"{NICE_ENV}={raw!r}: expected an integer from -20 to 19")
    return value


def kernel_args(environ: Mapping[str, str]) -> str:
    return KERNEL_ARGS + (" idle=poll" if environ.get(IDLE_POLL_ENV, "").strip() == "1" else "")
TCG = Accel("tcg", "max", "default")


@dataclass(frozen=True)
class Drive:
    """A virtio disk: /dev/vda, /dev/vdb… in the order given."""

    path: Path
    format: str = "qcow2"  # or "raw"
    snapshot: bool = False  # writes go to a throw-away overlay; the file is never changed
    readonly: bool = False

    def argv(self) -> list[str]:
        options = [f"file={str(self.path).replace(',', ',,')}", "if=virtio", f"format={self.format}"]
        options += ["snapshot=on"] * self.snapshot + ["readonly=on"] * self.readonly
        return ["-drive", ",".join(options)]


@dataclass(frozen=True)
class BootResult:
    exit_code: int  # CMD's, or 124 timeout, 125 no exit marker (crash, panic)
    ready_s: float | None  # host seconds from start to the READY marker (kernel + init)
    total_s: float


def qemu_argv(image: Image, initrd: Path, cpus: int = 2, memory: str | None = None,
              drives: Sequence[Drive] = (), accel: Accel = TCG) -> list[str]:
    memory = memory or os.environ.get(MEMORY_ENV) or DEFAULT_MEMORY
    return [QEMU, *accel.argv(), "-smp", str(cpus), "-m", memory, "-nographic", "-no-reboot",
            "-nic", "none", "-kernel", str(image.vmlinuz), "-initrd", str(initrd),
            "-append", kernel_args(os.environ), *(arg for drive in drives for arg in drive.argv())]


def write_initrd(image: Image, run_sh: str, dest: Path) -> Path:
    """The image's layers plus a run layer holding `run_sh`, in one file."""
    vm = initscript.VM_DIR.lstrip("/")
    with dest.open("wb") as out:
        for layer in image.layers:
            with layer.open("rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
        cpio.write(out, [cpio.dir_entry(vm), cpio.file_entry(f"{vm}/run.sh", run_sh.encode(), 0o755)])
    return dest


def _pump(stream: TextIO, lines: queue.Queue[str | None]) -> None:
    for line in iter(stream.readline, ""):
        lines.put(line)
    lines.put(None)


POWEROFF_GRACE_S = 30.0  # after the exit marker: the guest syncs and powers off (sysrq o)
SILENCE_S = 3 * initscript.BEAT_S  # a guest that lives prints its heartbeat every BEAT_S


@dataclass
class Watch:
    """What the console last said, so silence and a timeout can name where the guest was."""

    started: float
    last_line_at: float
    last_line: str = ""
    last_beat: str = ""
    silent_reported: bool = False

    def saw(self, line: str, now: float) -> None:
        self.last_line_at, self.silent_reported = now, False
        if initscript.BEAT_MARKER in line:
            self.last_beat = line.strip()
        elif line.strip():
            self.last_line = line.strip()

    def silence(self, now: float) -> str | None:
        """A report, once per silence, when the console has said nothing for SILENCE_S."""
        quiet = now - self.last_line_at
        if quiet < SILENCE_S or self.silent_reported:
            return None
        self.silent_reported = True
        return (f"qoslab-vm: no console output for {quiet:.0f} s at {now - self.started:.0f} s (the guest's "
                f"heartbeat comes every {initscript.BEAT_S} s: QEMU gets no CPU time, or the guest kernel "
                f"hangs); last line: {self.last_line[:160]!r}; last heartbeat: {self.last_beat or 'none'}\n")

    def where(self) -> str:
        return f"last heartbeat: {self.last_beat or 'none'}; last line: {self.last_line[:160]!r}"


def stream_console(lines: queue.Queue[str | None], deadline: float, out: TextIO,
                   started: float) -> tuple[int | None, float | None, Watch]:
    """Copy console lines to `out` until QEMU exits or the deadline; → (exit marker, ready time, watch)."""
    code: int | None = None
    ready: float | None = None
    watch = Watch(started, time.monotonic())
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=min(left, 1.0))
        except queue.Empty:
            report = watch.silence(time.monotonic())
            if report:
                out.write(report)
                out.flush()
            continue
        if line is None:
            break
        line = ANSI_ESCAPE.sub("", line).replace("\r", "")
        watch.saw(line, time.monotonic())
        out.write(line)
        out.flush()
        if initscript.READY_MARKER in line and ready is None:
            ready = time.monotonic() - started
        if code is None and (code := initscript.parse_exit(line)) is not None:
            deadline = min(deadline, time.monotonic() + POWEROFF_GRACE_S)  # the guest powers off now
    return code, ready, watch


PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In the child before exec: the kernel kills QEMU when this process dies, even by SIGKILL (e.g.
    `subprocess.run` killing `python -m netem.vm` on Ctrl-C), so no QEMU outlives its runner."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def child_setup(nice: int) -> Callable[[], None]:
    """What the child runs before exec: die with the parent, and take `nice` where permitted (a
    refusal leaves the inherited priority; the parent reads back what QEMU got)."""
    def setup() -> None:
        die_with_parent()
        if nice:
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, 0, nice)
    return setup


def _boot(argv: list[str], deadline: float, out: TextIO, started: float,
          nice: int = 0) -> tuple[int | None, float | None]:
    """Run QEMU until it exits or the deadline; always reaped, its pipe closed, the reader joined."""
    lines: queue.Queue[str | None] = queue.Queue()
    with subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, errors="replace", preexec_fn=child_setup(nice)) as proc:
        assert proc.stdout is not None
        if nice:
            try:
                got = os.getpriority(os.PRIO_PROCESS, proc.pid)
            except OSError:  # already gone: its exit says why
                got = nice
            note = "" if got == nice else f" (asked {nice}: not permitted)"
            out.write(f"qoslab-vm: QEMU runs at nice {got}{note}\n")
        reader = threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True)
        reader.start()
        code: int | None = None
        ready: float | None = None
        watch = Watch(started, started)
        try:
            code, ready, watch = stream_console(lines, deadline, out, started)
            limit = POWEROFF_GRACE_S if code is not None else max(1.0, deadline - time.monotonic())
            proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            if code is None:
                out.write(f"qoslab-vm: timed out after {deadline - started:g}s; killing qemu; "
                          f"{watch.where()}\n")
                code = EXIT_TIMEOUT
            else:  # the command's exit code arrived: a guest that does not power off must not hide it
                out.write(f"qoslab-vm: the guest did not power off within {POWEROFF_GRACE_S:g}s of its exit "
                          f"marker; killing qemu (exit code {code} kept)\n")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
            reader.join(timeout=5)
    return code, ready


def run(image: Image, argv: Sequence[str], *, timeout_s: float = 600.0, env: Mapping[str, str] | None = None,
        out: TextIO = sys.stdout, drives: Sequence[Drive] = (), script: str | None = None) -> BootResult:
    """Boot, run `argv` (or the sh text `script`) inside, power off. Bounded by `timeout_s`; QEMU
    never outlives this call."""
    if shutil.which(QEMU) is None:
        raise VmError(f"{QEMU} not found: apt-get install qemu-system-x86 (see docs/vm.md)")
    nice = qemu_nice(os.environ)  # a bad value stops here, before a boot
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="qoslab-vm-") as tmp:
        accel = resolve(QEMU, image.vmlinuz, cache_dir(), lambda line: print(f"qoslab-vm: {line}", file=out))
        # the guest knows its accelerator: checks whose right outcome differs under TCG read it
        guest_env = {**(env or {}), ACCEL_USED_ENV: accel.name}
        if script is None:
            text = initscript.run_script(argv, guest_env)
        else:  # a whole script (the Docker runs) gets the environment too: its tests read the accelerator
            text = initscript.exports(guest_env) + script
        initrd = write_initrd(image, text, Path(tmp) / "initrd.cpio")
        code, ready = _boot(qemu_argv(image, initrd, drives=drives, accel=accel), started + timeout_s, out,
                            started, nice)
    if code is None:
        code = EXIT_TIMEOUT if time.monotonic() - started >= timeout_s else EXIT_NO_MARKER
    return BootResult(code, ready, time.monotonic() - started)
