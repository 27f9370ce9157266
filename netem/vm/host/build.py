"""`python -m netem.vm build`: cached cpio layers concatenated into one initramfs.

    rootfs-KEY.cpio   debootstrap'd Debian with Docker (slow: minutes; keyed by suite + packages + recipe)
    kernel-V-PKG/     vmlinuz + kernel.cpio: the module tree netem and Docker need (keyed by the package)
    compose-HASH.cpio the host's `docker compose` plugin binary (when the host has one)
    code-HASH.cpio    /init + services/ netem/ and the compose files of the checkout (cheap; by content)
    tests-HASH.cpio   tests/ of the checkout, only for runs that ask for it (the test suite's own runs)
`run` boots vmlinuz with them (plus a run layer) concatenated into one temporary initrd.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from netem.vm.host import cpio, initscript, kernel, rootfs
from netem.vm.host.cache import TEST_DIRS, cache_dir, code_files, digest, files_digest, repo_root, run_tool

Log = Callable[[str], None]
KEEP_CODE_LAYERS = 5
PLUGIN_DIR = "usr/libexec/docker/cli-plugins"  # where the VM's docker CLI finds `docker compose`
PLUGIN_SEARCH = ("/usr/local/lib/docker/cli-plugins", "/usr/local/libexec/docker/cli-plugins",
                 "/usr/lib/docker/cli-plugins", "/usr/libexec/docker/cli-plugins")


@dataclass(frozen=True)
class Image:
    vmlinuz: Path
    layers: tuple[Path, ...]  # cpio archives, concatenated at boot (later files win)
    key: str
    has_compose: bool = False  # the host's compose plugin is in (needed by `python -m netem.vm compose`)


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
    key = digest(rootfs.key_parts())

    def make(tmp: Path) -> None:
        tree = cache / f"rootfs-tree-{key}"  # per key: two builds of different recipes never collide
        log(f"debootstrap {rootfs.SUITE} with {', '.join(rootfs.PACKAGES)} (a few minutes, once)")
        rootfs.build_rootfs(tree)
        with tmp.open("wb") as out:
            cpio.write(out, cpio.tree_entries(tree))
        shutil.rmtree(tree)

    return _atomic(cache / f"rootfs-{key}.cpio", make)


def kernel_layer(cache: Path, log: Log) -> Path:
    package = kernel.image_package(run_tool(["apt-cache", "depends", kernel.META_PACKAGE], 60))

    def make(tmp: Path) -> None:
        log(f"apt-get download {package}; extracting vmlinuz and the modules "
            f"({', '.join(kernel.TREE_DIRS)}, {', '.join(kernel.BOOT_MODULES)})")
        k = kernel.fetch(tmp)
        vm = initscript.VM_DIR.lstrip("/")
        entries = [cpio.dir_entry(vm),
                   cpio.file_entry(f"{vm}/modules.list", "\n".join(kernel.BOOT_MODULES).encode() + b"\n")]
        with (tmp / "kernel.cpio").open("wb") as out:  # /lib is a link to usr/lib in the rootfs: keep it
            cpio.write(out, [*entries, *cpio.tree_entries(k.tree / "lib", "usr/lib")])
        shutil.rmtree(k.tree)

    return _atomic(cache / f"kernel-{kernel.LAYER_VERSION}-{package}", make)


def plugin_layer(cache: Path, log: Log) -> Path | None:
    """The host's `docker compose` v2 plugin binary for the VM (a static Go binary); None without one."""
    found = compose_plugin()
    if found is None:
        return None
    data = found.read_bytes()

    def make(tmp: Path) -> None:
        log(f"compose plugin from {found} ({len(data) >> 20} MiB)")
        parts = PLUGIN_DIR.split("/")
        entries = [cpio.dir_entry("/".join(parts[:i])) for i in range(1, len(parts) + 1)]
        with tmp.open("wb") as out:
            cpio.write(out, [*entries, cpio.file_entry(f"{PLUGIN_DIR}/docker-compose", data, 0o755)])

    return _atomic(cache / f"compose-{digest([data])}.cpio", make)


def compose_plugin(dirs: tuple[str, ...] | None = None) -> Path | None:
    """The first `docker-compose` CLI plugin in Docker's plugin directories (links resolved), or None."""
    search = dirs or (str(Path.home() / ".docker/cli-plugins"), *PLUGIN_SEARCH)
    for folder in search:
        path = Path(folder) / "docker-compose"
        if path.is_file():
            return path.resolve()
    return None


def code_layer(cache: Path, root: Path) -> Path:
    """/init and the checkout's code (services/, netem/, compose files) under CODE_DIR."""
    init = cpio.file_entry("init", initscript.INIT.encode(), 0o755)
    return _files_layer(cache, root, "code", code_files(root), [init], initscript.INIT)


def tests_layer(cache: Path, root: Path) -> Path:
    """tests/ of the checkout under CODE_DIR: for the test suite's own runs in the VM."""
    return _files_layer(cache, root, "tests", code_files(root, TEST_DIRS, ()), [], "")


def _files_layer(cache: Path, root: Path, kind: str, files: list[Path], head: list[cpio.Entry],
                 salt: str) -> Path:
    key = digest([files_digest(root, files), salt])

    def make(tmp: Path) -> None:
        code = initscript.CODE_DIR.lstrip("/")
        entries = [*head, cpio.dir_entry(code)]
        dirs = sorted({parent for p in files for parent in p.parents if parent != Path(".")})
        entries += [cpio.dir_entry(f"{code}/{d.as_posix()}") for d in dirs]
        entries += [cpio.file_entry(f"{code}/{p.as_posix()}", (root / p).read_bytes()) for p in files]
        with tmp.open("wb") as out:
            cpio.write(out, entries)

    return _atomic(cache / f"{kind}-{key}.cpio", make)


def build(root: Path | None = None, cache: Path | None = None, log: Log = print, *,
          with_tests: bool = False) -> Image:
    """Make (or reuse) every layer; cheap when only code changed. Old code layers are pruned."""
    root = root or repo_root()
    cache = cache or cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    kernel_dir = kernel_layer(cache, log)
    plugin = plugin_layer(cache, log)
    layers = (rootfs_layer(cache, log), kernel_dir / "kernel.cpio", *([plugin] if plugin else []),
              *([tests_layer(cache, root)] if with_tests else []), code_layer(cache, root))
    for layer in layers[-2:]:
        layer.touch()
    prune(cache, "code-*.cpio", KEEP_CODE_LAYERS)
    prune(cache, "tests-*.cpio", KEEP_CODE_LAYERS)
    key = digest([p.name for p in layers] + [kernel_dir.name])
    log(f"image {key} ready in {time.monotonic() - started:.1f}s ({', '.join(p.name for p in layers)})")
    return Image(kernel_dir / "vmlinuz", layers, key, has_compose=plugin is not None)
