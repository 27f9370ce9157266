"""The stock Debian kernel: download the image package, extract vmlinuz and the modules the VM needs.

The VM gets a real module tree (`/lib/modules/VERSION`, indexed by the host's `depmod`) holding the
netem/tbf/veth modules, what Docker needs (overlay, bridge, br_netfilter, virtio disks, ext4) and all of
`kernel/net`, so dockerd and iptables can `modprobe` whatever netfilter piece they ask for.
`BOOT_MODULES` are loaded by /init; `closure` adds every dependency (read from each module's modinfo).
"""

from __future__ import annotations

import lzma
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from netem.vm.errors import VmError
from netem.vm.host.cache import run_tool

META_PACKAGE = "linux-image-amd64"
MODULES = ("sch_netem", "sch_tbf", "veth")  # the netem testbed itself
DOCKER_MODULES = ("virtio_pci", "virtio_blk", "ext4", "overlay", "bridge", "br_netfilter", "dummy")
BOOT_MODULES = MODULES + DOCKER_MODULES
TREE_DIRS = ("kernel/net", "kernel/crypto", "kernel/lib")  # whole: loaded on demand (netfilter, crc32c)
INDEX_FILES = ("modules.order", "modules.builtin", "modules.builtin.modinfo")
APT_TIMEOUT_S = 600.0
LAYER_VERSION = "4"  # bump when the layer's recipe changes


@dataclass(frozen=True)
class Kernel:
    version: str  # e.g. 6.1.0-56-amd64
    vmlinuz: Path
    tree: Path  # a root holding lib/modules/VERSION (plain .ko files, depmod-indexed)


def image_package(depends_output: str) -> str:
    """`apt-cache depends linux-image-amd64` → the versioned image package it depends on."""
    found: list[str] = re.findall(r"Depends:\s*(linux-image-[0-9][\w.+-]*)", depends_output)
    if not found:
        raise VmError(f"cannot find the kernel image package in: {depends_output.strip()!r}")
    return found[0]


def modinfo_depends(ko: bytes) -> list[str]:
    """The `depends=` field of a module's .modinfo section (NUL-separated key=value strings)."""
    found = re.search(rb"\x00depends=([^\x00]*)\x00", ko)
    return [d.decode() for d in found.group(1).split(b",") if d] if found else []


def module_name(path: str) -> str:
    base = path.rsplit("/", 1)[-1]
    return re.sub(r"\.ko(\.xz|\.zst|\.gz)?$", "", base).replace("-", "_")


def load_order(deps: Mapping[str, Sequence[str]], wanted: Sequence[str]) -> list[str]:
    """Module names to insmod so every dependency comes first; each once."""
    order: list[str] = []

    def visit(name: str, stack: tuple[str, ...]) -> None:
        if name in order or name in stack:
            return
        if name not in deps:
            raise VmError(f"module {name} is not in this kernel's module tree")
        for dep in deps[name]:
            visit(dep, (*stack, name))
        order.append(name)

    for name in wanted:
        visit(name, ())
    return order


def closure(deps: Mapping[str, Sequence[str]], wanted: Sequence[str]) -> set[str]:
    """`wanted` and everything they depend on, transitively."""
    return set(load_order(deps, wanted))


def tree_wanted(moddir: Path, boot: Sequence[str] = BOOT_MODULES,
                dirs: Sequence[str] = TREE_DIRS) -> list[str]:
    """The boot modules plus every module under `dirs` of the module tree (names)."""
    extra = sorted(module_name(p.name) for d in dirs for p in (moddir / d).rglob("*.ko*"))
    return [*boot, *(n for n in extra if n not in boot)]


def module_deps(moddir: Path, wanted: Sequence[str]) -> tuple[dict[str, Path], dict[str, list[str]]]:
    """Paths by module name (whole tree) and the depends of the wanted modules and theirs."""
    paths = {module_name(p.name): p for p in moddir.rglob("*.ko*")}
    deps: dict[str, list[str]] = {}
    todo = list(wanted)
    while todo:
        name = todo.pop()
        if name in deps or name not in paths:
            continue
        deps[name] = [module_name(d) for d in modinfo_depends(_read_ko(paths[name]))]
        todo += deps[name]
    return paths, deps


def fetch(workdir: Path) -> Kernel:
    """apt-get download + dpkg-deb -x into `workdir`; modules decompressed to plain .ko files."""
    package = image_package(run_tool(["apt-cache", "depends", META_PACKAGE], 60))
    workdir.mkdir(parents=True, exist_ok=True)
    run_tool(["apt-get", "download", package], APT_TIMEOUT_S, cwd=workdir)
    deb = next(workdir.glob(f"{package}_*.deb"))
    tree = workdir / "tree"
    run_tool(["dpkg-deb", "-x", str(deb), str(tree)], APT_TIMEOUT_S)
    version = package.removeprefix("linux-image-")
    moddir = tree / "lib" / "modules" / version
    wanted = tree_wanted(moddir)
    paths, deps = module_deps(moddir, wanted)
    out = workdir / "root"
    outdir = out / "lib" / "modules" / version
    for name in sorted(closure(deps, wanted)):
        _plain_copy(paths[name], outdir / paths[name].parent.relative_to(moddir))
    for index in INDEX_FILES:
        if (moddir / index).exists():
            shutil.copyfile(moddir / index, outdir / index)
    run_tool(["depmod", "-b", str(out), version], APT_TIMEOUT_S)
    vmlinuz = workdir / "vmlinuz"
    shutil.copyfile(tree / "boot" / f"vmlinuz-{version}", vmlinuz)
    shutil.rmtree(tree)
    deb.unlink()
    return Kernel(version, vmlinuz, out)


def _read_ko(src: Path) -> bytes:
    if src.suffix == ".xz":
        return lzma.decompress(src.read_bytes())
    if src.suffix == ".ko":
        return src.read_bytes()
    raise VmError(f"cannot decompress module {src.name} (only .ko and .ko.xz)")


def _plain_copy(src: Path, out: Path) -> Path:
    """`src` decompressed to `out/NAME.ko` (the file name as in the tree, without a compression suffix)."""
    out.mkdir(parents=True, exist_ok=True)
    dest = out / re.sub(r"\.(xz|zst|gz)$", "", src.name)
    dest.write_bytes(_read_ko(src))
    return dest
