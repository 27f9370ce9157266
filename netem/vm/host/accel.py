"""Which QEMU accelerator runs the VM: KVM where a guest really boots under it, else TCG.

`QOSLAB_VM_ACCEL=auto` (the default) tries KVM only when it can work: /dev/kvm opens and creates a VM,
and a probe boot of the VM's own kernel (no initrd, a few seconds) prints the kernel's first line. Some
hosts pass the first two and still cannot run the guest (nested virtualization that hangs right after
decompression, a CPU model whose MSRs the host refuses): then the probe sees no first line within
PROBE_TIMEOUT_S, or QEMU stops with its reason, and the VM runs under TCG. `kvm` and `tcg` force one.
The decision (pure: `choose`, given a probe) is logged with its reason and kept per host boot.
"""

from __future__ import annotations

import enum
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

ACCEL_ENV = "QOSLAB_VM_ACCEL"  # auto (default) | kvm | tcg
MODES = ("auto", "kvm", "tcg")
KVM_DEVICE = "/dev/kvm"
KVM_CREATE_VM = 0xAE01  # ioctl: returns a VM file descriptor
# `host` first (all of the host's features); without arch-capabilities for hosts that refuse that MSR;
# qemu64, the plainest model, last.
KVM_CPU_MODELS = ("host", "host,-arch-capabilities", "qemu64")
TCG_CPU = "max"
FIRST_LINE = "Linux version"  # the kernel's first message: decompression is over, the kernel runs
PROBE_TIMEOUT_S = 6.0  # under KVM the first line comes well within a second
PROBE_ARGS = "console=ttyS0 loglevel=7 panic=-1"  # no initrd: after its first lines the kernel panics


@dataclass(frozen=True)
class Accel:
    name: str  # kvm | tcg
    cpu: str
    reason: str

    def argv(self) -> list[str]:
        return ["-accel", self.name, "-cpu", self.cpu]

    def log_line(self) -> str:
        return f"accel={self.name} cpu={self.cpu} ({self.reason})"


class Outcome(enum.Enum):
    BOOTED = "booted"  # the first kernel line arrived
    FAILED = "failed"  # QEMU stopped before it (e.g. "failed to set MSR 0x10a")
    HUNG = "hung"  # nothing within the timeout


@dataclass(frozen=True)
class Probe:
    outcome: Outcome
    detail: str
    seconds: float


ProbeBoot = Callable[[str], Probe]  # CPU model → what a KVM boot of the kernel did


def choose(mode: str, kvm_problem: str | None, probe: ProbeBoot,
           models: Sequence[str] = KVM_CPU_MODELS) -> Accel:
    """The accelerator for `mode` (pure, given the probe). `kvm_problem`: why /dev/kvm cannot be used,
    or None. In auto mode a model QEMU refuses is skipped; a guest that hangs stops the search, since
    another CPU model does not make nested virtualization run this kernel, and each hang costs the whole
    probe timeout."""
    if mode not in MODES:
        raise ValueError(f"{ACCEL_ENV}={mode!r}: expected one of {', '.join(MODES)}")
    if mode == "tcg":
        return Accel("tcg", TCG_CPU, f"{ACCEL_ENV}=tcg")
    if mode == "kvm":
        return Accel("kvm", models[0], f"{ACCEL_ENV}=kvm")
    if kvm_problem is not None:
        return Accel("tcg", TCG_CPU, f"auto: no KVM: {kvm_problem}")
    tried: list[str] = []
    for model in models:
        found = probe(model)
        if found.outcome is Outcome.BOOTED:
            before = f" after {'; '.join(tried)}" if tried else ""
            return Accel("kvm", model, f"auto: the kernel booted under KVM with -cpu {model} "
                                       f"(first line after {found.seconds:.1f} s){before}")
        tried.append(f"-cpu {model}: {found.detail}")
        if found.outcome is Outcome.HUNG:
            break
    return Accel("tcg", TCG_CPU, f"auto: KVM does not run the guest here ({'; '.join(tried)}); TCG")


def kvm_problem(device: str = KVM_DEVICE) -> str | None:
    """None when `device` opens and creates a VM; else why not."""
    import fcntl

    try:
        fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        return f"{device}: {exc.strerror}"
    try:
        vm = fcntl.ioctl(fd, KVM_CREATE_VM, 0)
        os.close(vm)
    except OSError as exc:
        return f"KVM_CREATE_VM: {exc.strerror}"
    finally:
        os.close(fd)
    return None


def probe_argv(qemu: str, vmlinuz: Path, model: str) -> list[str]:
    return [qemu, "-accel", "kvm", "-cpu", model, "-smp", "1", "-m", "256M", "-nographic", "-no-reboot",
            "-nic", "none", "-kernel", str(vmlinuz), "-append", PROBE_ARGS]


def probe_boot(qemu: str, vmlinuz: Path, model: str, timeout_s: float = PROBE_TIMEOUT_S) -> Probe:
    """Boot the kernel under KVM until its first line, QEMU's exit, or the timeout; QEMU is always killed."""
    started = time.monotonic()
    lines: queue.Queue[str | None] = queue.Queue()
    with subprocess.Popen(probe_argv(qemu, vmlinuz, model), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, errors="replace") as proc:
        assert proc.stdout is not None
        reader = threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True)
        reader.start()
        seen: list[str] = []
        try:
            while (left := started + timeout_s - time.monotonic()) > 0:
                try:
                    line = lines.get(timeout=left)
                except queue.Empty:
                    break
                if line is None:
                    last = " | ".join(s for s in seen[-3:] if s) or "no output"
                    return Probe(Outcome.FAILED, f"QEMU exited {proc.wait()}: {last}",
                                 time.monotonic() - started)
                if FIRST_LINE in line:
                    return Probe(Outcome.BOOTED, line.strip()[:120], time.monotonic() - started)
                seen.append(line.strip())
            return Probe(Outcome.HUNG, f"no kernel line within {timeout_s:g} s "
                                       f"(last: {seen[-1][:80] if seen else 'nothing'})", timeout_s)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
            reader.join(timeout=5)


def _pump(stream: TextIO, lines: queue.Queue[str | None]) -> None:
    for line in iter(stream.readline, ""):
        lines.put(line)
    lines.put(None)


def _cache_key(qemu: str, vmlinuz: Path) -> str:
    """Valid for one host boot, one QEMU binary and one kernel."""
    boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    stat = os.stat(shutil.which(qemu) or qemu)
    return f"{boot_id} {qemu} {stat.st_mtime_ns} {vmlinuz.name} {vmlinuz.stat().st_size}"


def resolve(qemu: str, vmlinuz: Path, cache: Path, log: Callable[[str], None],
            environ: dict[str, str] | None = None) -> Accel:
    """The accelerator for this host (QOSLAB_VM_ACCEL), probed once per host boot in auto mode; logged."""
    mode = (environ if environ is not None else dict(os.environ)).get(ACCEL_ENV, "").strip() or "auto"
    if mode != "auto":
        found = choose(mode, None, _never)
    else:
        found = _cached(cache / "accel.json", _cache_key(qemu, vmlinuz),
                        lambda: choose("auto", kvm_problem(), lambda m: probe_boot(qemu, vmlinuz, m)))
    log(found.log_line())
    return found


def _cached(path: Path, key: str, decide: Callable[[], Accel]) -> Accel:
    try:
        data = json.loads(path.read_text())
        if data.get("key") == key:
            kept = Accel(**data["accel"])
            return Accel(kept.name, kept.cpu, f"{kept.reason}; probed earlier this host boot")
    except (OSError, ValueError, TypeError, KeyError):
        pass
    found = decide()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"key": key, "accel": asdict(found)}))
    os.replace(tmp, path)
    return found


def _never(model: str) -> Probe:
    raise AssertionError("a forced accelerator needs no probe")
