"""`python -m netem.vm run -- CMD…`: boot the image under QEMU, stream the serial console, return CMD's code.

The run layer (the command as /qoslab-vm/run.sh) is one more cpio after the image's layers, all copied into
one initrd in a temp dir. QEMU is killed on timeout and on Ctrl-C; the temp dir is always removed.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from netem.vm.errors import VmError
from netem.vm.host import cpio, initscript
from netem.vm.host.build import Image

QEMU = "qemu-system-x86_64"
ACCEL_ENV = "QOSLAB_VM_ACCEL"  # tcg (default) or kvm
MEMORY_ENV = "QOSLAB_VM_MEMORY"  # guest memory, QEMU syntax (default DEFAULT_MEMORY)
DEFAULT_MEMORY = "4G"  # the root file system (Docker included) lives in RAM; the host has plenty
EXIT_TIMEOUT = 124
EXIT_NO_MARKER = 125
ANSI_ESCAPE = re.compile(r"\x1b(\[[0-9;?]*[A-Za-z]|c)")  # SeaBIOS clears the screen
KERNEL_ARGS = "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init tsc=reliable"


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
              drives: Sequence[Drive] = ()) -> list[str]:
    accel = os.environ.get(ACCEL_ENV, "tcg")
    cpu = ["-cpu", "max"] if accel == "tcg" else ["-cpu", "host"]
    memory = memory or os.environ.get(MEMORY_ENV) or DEFAULT_MEMORY
    return [QEMU, "-accel", accel, *cpu, "-smp", str(cpus), "-m", memory, "-nographic", "-no-reboot",
            "-nic", "none", "-kernel", str(image.vmlinuz), "-initrd", str(initrd),
            "-append", KERNEL_ARGS, *(arg for drive in drives for arg in drive.argv())]


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


def stream_console(lines: queue.Queue[str | None], deadline: float, out: TextIO,
                   started: float) -> tuple[int | None, float | None]:
    """Copy console lines to `out` until QEMU exits or the deadline; → (exit marker, ready time)."""
    code: int | None = None
    ready: float | None = None
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=min(left, 1.0))
        except queue.Empty:
            continue
        if line is None:
            break
        out.write(ANSI_ESCAPE.sub("", line).replace("\r", ""))
        out.flush()
        if initscript.READY_MARKER in line and ready is None:
            ready = time.monotonic() - started
        code = initscript.parse_exit(line) if code is None else code
    return code, ready


def _boot(argv: list[str], deadline: float, out: TextIO, started: float) -> tuple[int | None, float | None]:
    """Run QEMU until it exits or the deadline; always reaped, its pipe closed, the reader joined."""
    lines: queue.Queue[str | None] = queue.Queue()
    with subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, errors="replace") as proc:
        assert proc.stdout is not None
        reader = threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True)
        reader.start()
        code: int | None = None
        ready: float | None = None
        try:
            code, ready = stream_console(lines, deadline, out, started)
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            out.write(f"qoslab-vm: timed out after {deadline - started:g}s; killing qemu\n")
            code = EXIT_TIMEOUT
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
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="qoslab-vm-") as tmp:
        text = script if script is not None else initscript.run_script(argv, env)
        initrd = write_initrd(image, text, Path(tmp) / "initrd.cpio")
        code, ready = _boot(qemu_argv(image, initrd, drives=drives), started + timeout_s, out, started)
    if code is None:
        code = EXIT_TIMEOUT if time.monotonic() - started >= timeout_s else EXIT_NO_MARKER
    return BootResult(code, ready, time.monotonic() - started)
