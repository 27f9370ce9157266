"""A minimal cpio "newc" writer (what the kernel unpacks as an initramfs); no external cpio needed.

Archives concatenate: the kernel unpacks base + code + run layers one after another, later files win.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

TRAILER = "TRAILER!!!"


@dataclass(frozen=True)
class Entry:
    """One archive member: `name` without a leading slash; `data` for files, the target for symlinks."""

    name: str
    mode: int
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)
    mtime: int = 0


def _pad(length: int) -> bytes:
    return b"\0" * (-length % 4)


def header(entry: Entry, ino: int) -> bytes:
    """The 110-byte newc header plus the NUL-terminated, padded name."""
    name = entry.name.encode() + b"\0"
    fields = [ino, entry.mode, 0, 0, 1, entry.mtime, len(entry.data), 0, 0, *entry.rdev, len(name), 0]
    head = b"070701" + b"".join(f"{v:08x}".encode() for v in fields)
    return head + name + _pad(len(head) + len(name))


def write(out: BinaryIO, entries: Iterator[Entry] | list[Entry]) -> int:
    """Write the entries and the trailer; returns how many members were written."""
    count = 0
    for count, entry in enumerate(entries, start=1):
        out.write(header(entry, count))
        out.write(entry.data + _pad(len(entry.data)))
    out.write(header(Entry(TRAILER, 0), 0))
    return count


def dir_entry(name: str, mode: int = 0o755) -> Entry:
    return Entry(name, stat.S_IFDIR | mode)


def file_entry(name: str, data: bytes, mode: int = 0o644) -> Entry:
    return Entry(name, stat.S_IFREG | mode, data)


def tree_entries(root: Path, prefix: str = "") -> Iterator[Entry]:
    """Everything under `root` (dirs before their contents, sorted), named `prefix/relative`."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        base = Path(dirpath)
        rel = base.relative_to(root).as_posix()
        if rel != ".":
            yield _from_path(base, _join(prefix, rel))
        for name in sorted(filenames + [d for d in dirnames if (base / d).is_symlink()]):
            yield _from_path(base / name, _join(prefix, rel, name))


def _join(*parts: str) -> str:
    return "/".join(p for p in parts if p and p != ".")


def _from_path(path: Path, name: str) -> Entry:
    st = path.lstat()
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        return Entry(name, mode, os.readlink(path).encode(), mtime=int(st.st_mtime))
    if stat.S_ISREG(mode):
        return Entry(name, mode, path.read_bytes(), mtime=int(st.st_mtime))
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return Entry(name, mode, rdev=(os.major(st.st_rdev), os.minor(st.st_rdev)))
    return Entry(name, mode, mtime=int(st.st_mtime))
