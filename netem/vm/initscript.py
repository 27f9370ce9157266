"""The VM's /init (a POSIX sh script) and the per-run script it calls (pure text builders)."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence

READY_MARKER = "QOSLAB-VM-READY"
EXIT_MARKER = "QOSLAB-VM-EXIT="
CODE_DIR = "/qoslab"  # the checkout: services/, netem/
VM_DIR = "/qoslab-vm"  # modules/, modules.list, run.sh

INIT = f"""#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root PYTHONPATH={CODE_DIR} PYTHONDONTWRITEBYTECODE=1
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run
mkdir -p /run/netns /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs shm /dev/shm
ip link set lo up
for m in $(cat {VM_DIR}/modules.list); do
  insmod {VM_DIR}/modules/$m.ko || echo "qoslab-vm: insmod $m failed"
done
echo "{READY_MARKER} uptime_s=$(cut -d' ' -f1 /proc/uptime) cpus=$(nproc)"
cd {CODE_DIR}
sh {VM_DIR}/run.sh </dev/null
rc=$?
echo "{EXIT_MARKER}$rc"
sync
echo o > /proc/sysrq-trigger
sleep 10
echo b > /proc/sysrq-trigger
"""


def run_script(argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """The command the VM runs, with its environment, as sh text (every word quoted)."""
    lines = [f"export {name}={shlex.quote(value)}" for name, value in sorted((env or {}).items())]
    lines.append(shlex.join(argv) if argv else "true")
    return "\n".join(lines) + "\n"


def parse_exit(line: str) -> int | None:
    """`QOSLAB-VM-EXIT=3` (anywhere in a console line) → 3; None for any other line."""
    _, sep, tail = line.partition(EXIT_MARKER)
    digits = tail.strip().split(" ")[0] if sep else ""
    return int(digits) if digits.isdigit() else None
