"""Where built artefacts live and how they are keyed: content hashes of files and settings (pure-ish)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO

from netem.vm.errors import VmError

CACHE_ENV = "QOSLAB_VM_CACHE"
CODE_DIRS = ("services", "netem")
CODE_FILES = ("compose.yaml", "compose.direct.yaml", "pyproject.toml")  # compose and pytest run in the VM
TEST_DIRS = ("tests",)  # only in the test suite's own runs (`run --tests`), never in the product's
_SKIP_PARTS = {"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"}


def cache_dir() -> Path:
    """`$QOSLAB_VM_CACHE`, else `$XDG_CACHE_HOME/qoslab-vm`, else `~/.cache/qoslab-vm`."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "qoslab-vm"


def repo_root() -> Path:
    return Path(__file__).resolve().parents[3]


def code_files(root: Path, dirs: Sequence[str] = CODE_DIRS, files: Sequence[str] = CODE_FILES) -> list[Path]:
    """The checkout's files that go into the VM, relative to `root`, sorted (no caches, no .pyc)."""
    found: list[Path] = [Path(name) for name in files if (root / name).is_file()]
    for top in dirs:
        for path in (root / top).rglob("*"):
            rel = path.relative_to(root)
            if path.is_file() and not _SKIP_PARTS & set(rel.parts) and path.suffix != ".pyc":
                found.append(rel)
    return sorted(found)


def digest(parts: Iterable[bytes | str]) -> str:
    """A short hex key of the given parts, in order."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big") + data)
    return h.hexdigest()[:16]


def files_digest(root: Path, files: Sequence[Path]) -> str:
    return digest(x for rel in files for x in (str(rel), (root / rel).read_bytes()))


def run_tool(argv: Sequence[str], timeout_s: float, cwd: Path | None = None,
             stdin: IO[bytes] | None = None) -> str:
    """Run a build tool, bounded; its stdout, or VmError with its stderr."""
    if shutil.which(argv[0]) is None:
        raise VmError(f"{argv[0]} not found; install it (see docs/vm.md)", argv=argv)
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout_s,
                              cwd=cwd, check=False, stdin=stdin)
    except subprocess.TimeoutExpired as exc:
        raise VmError(f"{' '.join(argv)} timed out after {timeout_s:g}s", argv=argv) from exc
    if done.returncode != 0:
        raise VmError(f"{' '.join(argv)} failed (exit {done.returncode})", argv=argv, stderr=done.stderr)
    return done.stdout
