"""The base root file system: a debootstrap'd Debian with python3, PyYAML, iproute2, kmod, ping, and Docker.

Docker (docker.io: dockerd, containerd, runc, iptables) runs the real compose stack in the VM; pytest and
the Docker SDK let the compose tests and the netem controller run inside it too; tcpdump lets
`python -m netem capture` record a link end under real netem; iperf3 and irtt are the peers the queue
suite (`netem.vm.guest.bloat`) compares the client's throughput and loaded latency with.

Built once per (suite, package list, version) into the cache; trimmed of docs, locales and apt lists.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from netem.tools.aptsources import debian_mirror
from netem.vm.host.cache import run_tool

SUITE = "bookworm"
MIRROR_ENV = "QOSLAB_VM_MIRROR"  # else the mirror of the host's apt sources (netem.tools.aptsources)
PACKAGES = ("python3", "python3-yaml", "iproute2", "kmod", "iputils-ping", "procps",
            "docker.io", "e2fsprogs", "python3-pytest", "python3-docker", "tcpdump", "iperf3", "irtt")
ROOTFS_VERSION = "3"  # bump when the recipe below changes
DEBOOTSTRAP_TIMEOUT_S = 1200.0
PRUNE = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "var/lib/apt/lists",
         "var/cache/apt", "var/cache/debconf", "usr/share/zoneinfo", "usr/lib/python3.11/test",
         "usr/lib/python3.11/idlelib", "usr/lib/python3.11/ensurepip", "usr/share/i18n")


def key_parts() -> list[str]:
    return ["rootfs", ROOTFS_VERSION, SUITE, *PACKAGES]


def debootstrap_argv(target: Path, mirror: str) -> list[str]:
    return ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(target),
            mirror]


def build_rootfs(target: Path) -> Path:
    """Debootstrap into `target` (replaced if it exists) and trim it; returns `target`."""
    if target.exists():
        shutil.rmtree(target)
    mirror = debian_mirror(os.environ, MIRROR_ENV, SUITE)
    run_tool(debootstrap_argv(target, mirror), DEBOOTSTRAP_TIMEOUT_S)
    prune(target)
    return target


def prune(root: Path) -> None:
    for rel in PRUNE:
        path = root / rel
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
