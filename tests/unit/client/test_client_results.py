"""CSV schema and writing: header once, same columns for every test, units in the names."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from services.client import results


def test_columns_unique_and_carry_units() -> None:
    assert len(set(results.COLUMNS)) == len(results.COLUMNS)
    expected = {"rtt_p99_ms", "loss_pct", "jitter_ms", "offered_bps", "ttfb_ms", "req_per_s"}
    assert expected <= set(results.COLUMNS)


def test_header_written_once(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "q.csv"
    results.append_rows(path, [{"kind": "qos", "rtt_p99_ms": 1.5, "ok": True}])
    results.append_rows(path, [{"kind": "http_hit", "ttfb_ms": math.nan, "ok": False}])
    with path.open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == list(results.COLUMNS)
    assert len(rows) == 3 and all(len(r) == len(results.COLUMNS) for r in rows)
    parsed = results.read_rows(path)
    assert parsed[0]["rtt_p99_ms"] == "1.5" and parsed[0]["ok"] == "1"
    assert parsed[1]["ttfb_ms"] == "" and parsed[1]["ok"] == "0"


def test_unknown_column_is_an_error() -> None:
    with pytest.raises(KeyError):
        results.format_row({"rtt_p99_us": 1}, results.COLUMNS)


def test_json_safe_turns_nan_into_null() -> None:
    assert results.json_safe({"a": math.nan, "b": [1.0, math.inf]}) == {"a": None, "b": [1.0, None]}


def test_every_column_is_documented() -> None:
    """docs/client.md is the public description of the CSV: no column may be missing there."""
    import re

    doc = (Path(__file__).resolve().parents[3] / "docs" / "client.md").read_text(encoding="utf-8")
    documented: set[str] = set()
    for cell in re.findall(r"`([a-z0-9_{},]+)`", doc):
        braces = re.fullmatch(r"([a-z0-9_]*)\{([a-z0-9,]+)\}([a-z0-9_]*)", cell)
        if braces:
            documented |= {braces.group(1) + part + braces.group(3) for part in braces.group(2).split(",")}
        else:
            documented.add(cell)
    for prefix in ("owd_up", "owd_down"):  # documented as `owd_up_*_ms`: same statistics as rtt
        documented |= {c.replace("rtt", prefix, 1) for c in documented if c.startswith("rtt_")}
    missing = [c for c in (*results.COLUMNS, *results.RAW_COLUMNS) if c not in documented]
    assert not missing
