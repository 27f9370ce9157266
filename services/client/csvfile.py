"""Appending rows to a shared CSV file: whole rows, one header, never a silently mismatched header.

Many writers (processes, `--scale client=N` containers on one bind mount) append to one file. Each append
takes an exclusive `flock` on the file, re-checks that the path still names the locked file (a migration
may have replaced it meanwhile), reads the header, and then, under the lock:
- empty file → header and rows in one `write`;
- same header → the rows in one `write`;
- a header whose columns are all known (an older version of the schema: columns are only ever added)
  → *migrate*: rewrite the file with the new header, every old row and value kept, into a temporary file
  that replaces the old one atomically (`os.replace`);
- anything else (unknown columns, rows that do not match their header) → write *alongside*, to
  `NAME.columns-HASH.csv`, and say so: nothing is appended under a header that does not describe it.
The decision is the pure `plan_append`; the rest is a thin I/O shell.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import os
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

HEADER_LIMIT = 1 << 20  # bytes read looking for the end of the header line
REOPEN_LIMIT = 100  # a loop bound: times the file may be replaced under us before we give up


class Plan(Enum):
    HEADER = "header"  # empty file: write the header, then the rows
    APPEND = "append"  # same header
    MIGRATE = "migrate"  # rewrite with the new header, keeping every old row
    ALONGSIDE = "alongside"  # different columns that cannot be migrated: write to another file


def plan_append(existing: Sequence[str] | None, columns: Sequence[str]) -> Plan:
    """What to do with a file whose header is `existing` (None: empty file) to add rows of `columns`."""
    if existing is None:
        return Plan.HEADER
    if tuple(existing) == tuple(columns):
        return Plan.APPEND
    if existing and len(set(existing)) == len(existing) and set(existing) <= set(columns):
        return Plan.MIGRATE
    return Plan.ALONGSIDE


def alongside_path(path: Path, columns: Sequence[str]) -> Path:
    """The file rows of `columns` go to when `path` has other columns (the same one for every writer)."""
    digest = hashlib.sha256(",".join(columns).encode()).hexdigest()[:8]
    return path.with_name(f"{path.stem}.columns-{digest}{path.suffix or '.csv'}")


@dataclass(frozen=True)
class Appended:
    """Where the rows went and what happened to the file on the way."""

    path: Path
    rows: int
    migrated_from: tuple[str, ...] | None = None  # the old header, when the file was migrated
    diverted_from: Path | None = None  # the file we did not append to, when written alongside

    def note(self) -> str:
        """A one-line message for the user, '' when nothing unusual happened."""
        if self.diverted_from is not None:
            return (f"{self.diverted_from} has other columns than this version writes; "
                    f"{self.rows} row(s) written to {self.path} instead")
        if self.migrated_from is not None:
            return (f"{self.path}: header migrated from {len(self.migrated_from)} to the current columns "
                    f"(every old row kept)")
        return ""


def render(rows: Iterable[Sequence[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode("utf-8")


def append(path: str | os.PathLike[str], rows: Sequence[Sequence[str]], columns: Sequence[str]) -> Appended:
    """Append formatted `rows` (cells in `columns` order) under an exclusive lock; see the module doc."""
    target = Path(path)
    if target.parent != Path():
        target.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(REOPEN_LIMIT):
        fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if not _still_named(fd, target):
                continue  # replaced by a migration while we waited for the lock: lock the new file
            header = _read_header(fd)
            plan = plan_append(header, columns)
            if plan is Plan.MIGRATE and header is not None:
                if _migrate(fd, target, header, rows, columns):
                    return Appended(target, len(rows), migrated_from=tuple(header))
                plan = Plan.ALONGSIDE  # old rows do not match their own header: leave the file alone
            if plan is Plan.ALONGSIDE:
                break
            _write_all(fd, render([columns, *rows] if plan is Plan.HEADER else rows))
            return Appended(target, len(rows))
        finally:
            os.close(fd)
    else:
        raise OSError(f"{target} was replaced {REOPEN_LIMIT} times while waiting for its lock")
    other = alongside_path(target, columns)
    done = append(other, rows, columns)
    if done.diverted_from is not None:
        raise OSError(f"{other} has other columns too; not writing")
    return Appended(other, len(rows), diverted_from=target)


def _still_named(fd: int, path: Path) -> bool:
    try:
        named = path.stat()
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (mine.st_dev, mine.st_ino)


def _read_header(fd: int) -> list[str] | None:
    head = os.pread(fd, HEADER_LIMIT, 0)
    if not head:
        return None
    line = head.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", errors="replace")
    return next(csv.reader([line]), [])


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_all(fd: int) -> bytes:
    chunks, offset = [], 0
    while chunk := os.pread(fd, 1 << 20, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _migrate(fd: int, path: Path, header: Sequence[str], rows: Sequence[Sequence[str]],
             columns: Sequence[str]) -> bool:
    """Rewrite the locked file with `columns` as header, old rows mapped by name, then `rows`; atomic.

    False (and nothing changed) when an old row does not have as many cells as its header.
    """
    old = list(csv.reader(io.StringIO(_read_all(fd).decode("utf-8"), newline="")))[1:]
    if any(len(cells) != len(header) for cells in old):
        return False
    index = {name: i for i, name in enumerate(header)}
    moved = [[cells[index[name]] if name in index else "" for name in columns] for cells in old]
    temporary = path.with_name(f".{path.name}.migrate-{uuid.uuid4().hex}")
    try:
        with temporary.open("wb") as handle:
            handle.write(render([columns, *moved, *rows]))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, os.fstat(fd).st_mode & 0o777)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return True
