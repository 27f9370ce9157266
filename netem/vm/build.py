"""`python -m netem.vm build`: three cached cpio layers concatenated into one initramfs.

    rootfs-KEY.cpio   debootstrap'd Debian (slow: minutes; keyed by suite + packages + recipe)
    kernel-PKG/       vmlinuz + kernel.cpio with the netem/veth/tbf modules (keyed by the image package)
    code-HASH.cpio    /init + services/ netem/ of the checkout (cheap; keyed by file contents)
`run` boots vmlinuz with the three (plus a run layer) concatenated into one temporary initrd.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from netem.vm import cpio, initscript, kernel, rootfs
from netem.vm.cache import cache_dir, code_files, digest, files_digest, repo_root, run_tool

Log = Callable[[str], None]
KEEP_CODE_LAYERS = 5


@dataclass(frozen=True)
class Image:
    vmlinuz: Path
    layers: tuple[Path, ...]  # cpio archives, concatenated at boot (later files win)
    key: str


def _atomic(dest: Path, make: Callable[[Path], None]) -> Path:
    """Build `dest` via a temp name and rename, so a killed build never leaves half a layer."""
    if dest.exists():
        return dest
    tmp = dest.with_name(dest.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp) if tmp.is_dir() else tmp.unlink()
    make(tmp)
    tmp.rename(dest)
    return dest


def prune(cache: Path, pattern: str, keep: int) -> list[Path]:
    """Remove all but the `keep` most recently used entries matching `pattern`; returns the removed."""
    found = sorted(cache.glob(pattern), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in found[keep:]:
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    return found[keep:]


def rootfs_layer(cache: Path, log: Log) -> Path:
    def make(tmp: Path) -> None:
        tree = cache / "rootfs-tree"
        log(f"debootstrap {rootfs.SUITE} with {', '.join(rootfs.PACKAGES)} (a few minutes, once)")
        rootfs.build_rootfs(tree)
        with tmp.open("wb") as out:
            cpio.write(out, cpio.tree_entries(tree))
        shutil.rmtree(tree)

    return _atomic(cache / f"rootfs-{digest(rootfs.key_parts())}.cpio", make)


def kernel_layer(cache: Path, log: Log) -> Path:
    package = kernel.image_package(run_tool(["apt-cache", "depends", kernel.META_PACKAGE], 60))

    def make(tmp: Path) -> None:
        log(f"apt-get download {package}; extracting vmlinuz and {', '.join(kernel.MODULES)}")
        k = kernel.fetch(tmp)
        vm = initscript.VM_DIR.lstrip("/")
        names = [p.stem for p in k.modules]
        entries = [cpio.dir_entry(vm), cpio.dir_entry(f"{vm}/modules"),
                   cpio.file_entry(f"{vm}/modules.list", "\n".join(names).encode() + b"\n")]
        entries += [cpio.file_entry(f"{vm}/modules/{p.name}", p.read_bytes()) for p in k.modules]
        with (tmp / "kernel.cpio").open("wb") as out:
            cpio.write(out, entries)
        shutil.rmtree(tmp / "modules")

    return _atomic(cache / f"kernel-{package}", make)


def code_layer(cache: Path, root: Path) -> Path:
    files = code_files(root)
    key = digest([files_digest(root, files), initscript.INIT])

    def make(tmp: Path) -> None:
        code = initscript.CODE_DIR.lstrip("/")
        entries = [cpio.file_entry("init", initscript.INIT.encode(), 0o755), cpio.dir_entry(code)]
        dirs = sorted({parent for p in files for parent in p.parents if parent != Path(".")})
        entries += [cpio.dir_entry(f"{code}/{d.as_posix()}") for d in dirs]
        entries += [cpio.file_entry(f"{code}/{p.as_posix()}", (root / p).read_bytes()) for p in files]
        with tmp.open("wb") as out:
            cpio.write(out, entries)

    return _atomic(cache / f"code-{key}.cpio", make)


def build(root: Path | None = None, cache: Path | None = None, log: Log = print) -> Image:
    """Make (or reuse) every layer; cheap when only code changed. Old code layers are pruned."""
    root = root or repo_root()
    cache = cache or cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    kernel_dir = kernel_layer(cache, log)
    layers = (rootfs_layer(cache, log), kernel_dir / "kernel.cpio", code_layer(cache, root))
    layers[-1].touch()
    prune(cache, "code-*.cpio", KEEP_CODE_LAYERS)
    key = digest([p.name for p in layers] + [kernel_dir.name])
    log(f"image {key} ready in {time.monotonic() - started:.1f}s ({', '.join(p.name for p in layers)})")
    return Image(kernel_dir / "vmlinuz", layers, key)
