"""Concurrent appends to one results CSV from separate processes (issue 16 item 7, issue 13 replicas):
one header, every row whole, also while the file is being migrated to a newer header."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
COLUMNS = ("a", "b", "c")


def _lines(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


WRITER = """
import sys
from services.client import csvfile
path, name, header = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
print("ready", flush=True)
sys.stdin.read()  # every writer starts at once, when the test closes stdin
csvfile.append(path, [[name, "x" * 3000, name], [name, "y", name]], header)
"""


def _writers(path: Path, count: int, header: str) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"w{i}", header],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=REPO) for i in range(count)]
    for proc in procs:  # all started and waiting
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.close()
    assert [proc.wait(timeout=60) for proc in procs] == [0] * count
    for proc in procs:
        assert proc.stdout is not None
        proc.stdout.close()


@pytest.mark.parametrize("start", ["", "a,b\nold,1\n"])
def test_twenty_concurrent_writers_one_header_every_row_whole(tmp_path: Path, start: str) -> None:
    """20 processes append to one file at the same instant (a new file, or one being migrated)."""
    path = tmp_path / "q.csv"
    if start:
        path.write_text(start, encoding="utf-8")
    _writers(path, 20, ",".join(COLUMNS))
    lines = _lines(path)
    assert lines[0] == list(COLUMNS) and lines.count(list(COLUMNS)) == 1
    body = lines[1:]
    if start:
        assert body[0] == ["old", "1", ""]
        body = body[1:]
    assert len(body) == 40 and all(len(r) == 3 and r[0] == r[2] for r in body)
    names = sorted(r[0] for r in body if r[1] == "x" * 3000)
    assert names == sorted(f"w{i}" for i in range(20))
    for name in names:  # each writer's two rows stay together (one write per append)
        first = next(i for i, r in enumerate(body) if r[0] == name)
        assert body[first + 1][0] == name
