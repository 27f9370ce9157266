"""The VM's /init (a POSIX sh script) and the per-run script it calls (pure text builders)."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence

READY_MARKER = "QOSLAB-VM-READY"
EXIT_MARKER = "QOSLAB-VM-EXIT="
DOCKER_READY_MARKER = "QOSLAB-VM-DOCKER-READY"
CODE_DIR = "/qoslab"  # the checkout: services/, netem/, compose files (and tests/ when asked for)
VM_DIR = "/qoslab-vm"  # modules.list, run.sh
DOCKER_DISK = "/dev/vda"  # the data disk: /var/lib/docker (ext4, images preloaded)
DOCKER_WAIT_S = 120
COMPOSE_FILES = "compose.yaml:netem/vm/compose.vm.yaml"  # relative to CODE_DIR, where commands start
PREBUILT_ENV = "QOSLAB_IMAGES_PREBUILT"  # 1: the images come built (the Docker disk); tests must not build
# The watchdog: every BEAT_S the guest prints what it is doing (the step in STEP_FILE: set by these
# scripts, and by pytest inside to the running test) and for how long; once a step has run STALL_S, and
# every STALL_S after, it also lists the processes (oldest first, with their kernel wait channel) and the
# containers, so a run that stalls names what waits long before any time limit.
BEAT_MARKER = "QOSLAB-VM-BEAT"
STEP_FILE = "/run/qoslab-step"
STEP_ENV = "QOSLAB_STEP_FILE"
BEAT_S = 15
STALL_S = 60

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
mount -t cgroup2 cgroup2 /sys/fs/cgroup
ip link set lo up
step() {{ echo "$*" > {STEP_FILE}; }}
watchdog() {{
  last="" since=0
  while sleep {BEAT_S}; do
    now=$(cut -d. -f1 /proc/uptime); current=$(cat {STEP_FILE} 2>/dev/null)
    [ "$current" = "$last" ] || {{ last=$current; since=$now; }}
    held=$((now - since))
    echo "{BEAT_MARKER} uptime_s=$now step_s=$held load=$(cut -d' ' -f1 /proc/loadavg) step=$current"
    if [ $held -ge {STALL_S} ] && [ $((held % {STALL_S})) -lt {BEAT_S} ]; then
      echo "qoslab-vm: step '$current' has run for $held s; processes (oldest first):"
      ps -N --ppid 2 -o pid,etimes,stat,wchan:18,args --sort=start_time | grep -v ' ps -N' | cut -c1-160
      command -v docker >/dev/null && [ -S /var/run/docker.sock ] &&
        timeout 10 docker ps -a --format '  container {{{{.Names}}}}: {{{{.Status}}}}' 2>/dev/null
    fi
  done
}}
export {STEP_ENV}={STEP_FILE}
step "loading kernel modules"
watchdog &
for m in $(cat {VM_DIR}/modules.list); do
  modprobe $m || echo "qoslab-vm: modprobe $m failed"
done
echo "{READY_MARKER} uptime_s=$(cut -d' ' -f1 /proc/uptime) cpus=$(nproc)"
cd {CODE_DIR}
step "run.sh"
sh {VM_DIR}/run.sh </dev/null
rc=$?
echo "{EXIT_MARKER}$rc"
sync
echo o > /proc/sysrq-trigger
sleep 10
echo b > /proc/sysrq-trigger
"""


def exports(env: Mapping[str, str] | None) -> str:
    """`export NAME=VALUE` lines (values quoted) for sh."""
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in sorted((env or {}).items()))


def run_script(argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """The command the VM runs, with its environment, as sh text (every word quoted)."""
    return exports(env) + (shlex.join(argv) if argv else "true") + "\n"


def parse_exit(line: str) -> int | None:
    """`QOSLAB-VM-EXIT=3` (anywhere in a console line) → 3; None for any other line."""
    _, sep, tail = line.partition(EXIT_MARKER)
    digits = tail.strip().split(" ")[0] if sep else ""
    return int(digits) if digits.isdigit() else None


def docker_script(body: str) -> str:
    """The sh text `body` with a Docker engine around it: its data disk mounted, dockerd up first.

    `body`'s exit code is the script's. Docker's root is the initramfs, so runc must not pivot_root
    (DOCKER_RAMDISK). Published ports are NAT rules only (no docker-proxy process per port: each Go
    process costs seconds to start under TCG). COMPOSE_FILE adds the VM's compose override to
    compose.yaml (netem/vm/compose.vm.yaml: no health checks, a gentler client suite). The images are on
    the Docker disk, built on the host from this checkout: QOSLAB_IMAGES_PREBUILT tells the compose tests
    not to build (the VM's checkout carries no build context).
    """
    return f"""mkdir -p /var/lib/docker
echo "starting the Docker engine" > {STEP_FILE}
mount -t ext4 {DOCKER_DISK} /var/lib/docker ||
  {{ echo "qoslab-vm: cannot mount {DOCKER_DISK}"; exit 70; }}
export COMPOSE_FILE={COMPOSE_FILES} {PREBUILT_ENV}=1
DOCKER_RAMDISK=true dockerd --data-root /var/lib/docker --log-level warn --userland-proxy=false \
  >/tmp/dockerd.log 2>&1 &
i=0
until docker info >/dev/null 2>&1; do
  i=$((i + 1))
  if [ $i -gt {DOCKER_WAIT_S * 2} ] || ! kill -0 $! 2>/dev/null; then
    echo "qoslab-vm: dockerd did not start"; tail -n 30 /tmp/dockerd.log; exit 71
  fi
  sleep 0.5
done
echo "{DOCKER_READY_MARKER} uptime_s=$(cut -d' ' -f1 /proc/uptime)"
echo "the command" > {STEP_FILE}
(
{body})
rc=$?
kill $(cat /var/run/docker.pid) 2>/dev/null
i=0
while [ -e /var/run/docker.pid ] && [ $i -lt 60 ]; do i=$((i + 1)); sleep 0.5; done
umount -l /var/lib/docker  # copy-on-write disk: nothing to keep consistent
exit $rc
"""
