"""Shared results CSV: whole rows and one header under concurrent writers; other headers migrated or
left alone with the rows written alongside (never silently extended)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from services.client import csvfile, results
from services.client.csvfile import Plan, plan_append

COLUMNS = ("a", "b", "c")


@pytest.mark.parametrize(("existing", "plan"), [
    (None, Plan.HEADER), (["a", "b", "c"], Plan.APPEND), (["a", "b"], Plan.MIGRATE),
    (["c", "a"], Plan.MIGRATE), (["a", "b", "c", "d"], Plan.ALONGSIDE), (["a", "a"], Plan.ALONGSIDE),
    (["x"], Plan.ALONGSIDE), ([], Plan.ALONGSIDE)])
def test_plan_append(existing: list[str] | None, plan: Plan) -> None:
    assert plan_append(existing, COLUMNS) is plan


def _lines(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_older_header_is_migrated_keeping_every_row_and_value(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text("a,b\n1,x\n2,\"y,z\"\n", encoding="utf-8")
    done = csvfile.append(path, [["3", "q", "new"]], COLUMNS)
    assert done.path == path and done.migrated_from == ("a", "b") and "migrated" in done.note()
    assert _lines(path) == [["a", "b", "c"], ["1", "x", ""], ["2", "y,z", ""], ["3", "q", "new"]]
    assert not list(tmp_path.glob(".*migrate*"))  # no temporary file left behind


def test_reordered_header_is_migrated_by_name(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text("c,a\n9,1\n", encoding="utf-8")
    csvfile.append(path, [["2", "", "8"]], COLUMNS)
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [dict(r) for r in csv.DictReader(handle)]
    assert rows == [
        {"a": "1", "b": "", "c": "9"}, {"a": "2", "b": "", "c": "8"}]


@pytest.mark.parametrize("content", ["a,b,c,d\n1,2,3,4\n",  # a newer schema: columns we do not know
                                     "x,y\n1,2\n",  # another file altogether
                                     "a,b\n1,2,3\n"])  # rows longer than their header (issue 12)
def test_unmigratable_file_is_left_alone_and_rows_go_alongside(tmp_path: Path, content: str) -> None:
    path = tmp_path / "q.csv"
    path.write_text(content, encoding="utf-8")
    done = csvfile.append(path, [["1", "2", "3"]], COLUMNS)
    assert path.read_text(encoding="utf-8") == content
    assert done.diverted_from == path and done.path == csvfile.alongside_path(path, COLUMNS)
    assert str(path) in done.note() and str(done.path) in done.note()
    again = csvfile.append(path, [["4", "5", "6"]], COLUMNS)  # every writer picks the same file
    assert again.path == done.path
    assert _lines(done.path) == [list(COLUMNS), ["1", "2", "3"], ["4", "5", "6"]]


def test_results_rows_round_trip_after_a_column_was_added(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    old = results.COLUMNS[:-1]
    results.append_rows(path, [{"kind": "qos", "rtt_p99_ms": 1.5}], old)
    results.append_rows(path, [{"kind": "http", results.COLUMNS[-1]: "x"}])
    rows = results.read_rows(path)
    assert [r["kind"] for r in rows] == ["qos", "http"] and rows[0]["rtt_p99_ms"] == "1.5"
    assert rows[1][results.COLUMNS[-1]] == "x" and None not in rows[1]
