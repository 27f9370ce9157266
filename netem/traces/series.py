"""Time-series traces: a CSV with a header, `t` plus any of the profile's scalar fields.

    t,delay,loss,rate:linear          values carry units, as in a profile (`40ms`, `1%`, `5mbit`)
    0s,40ms,0%,10mbit
    250ms,80ms,2%,2mbit

    t_ms,delay_ms,rate_mbit           or the unit goes into the header and the cells are bare numbers

Each column holds its value until the next row (`step`, the default) or moves along a straight line to
it (`NAME:linear`). Rows are at least 10 ms apart (what a change per row can honour) and start at 0.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from netem.core import units
from netem.core.fields import FIELDS
from netem.traces.errors import TraceError

MIN_STEP_S = 0.010
NOT_REPLAYABLE = ("gemodel", "slot", "distribution")  # structured or named: set them in the profile
REPLAYABLE = tuple(key for key in FIELDS if key not in NOT_REPLAYABLE)
# header suffix → the unit appended to a bare cell (`delay_ms` 40 → `40ms`)
UNIT_SUFFIXES = {"ns": "ns", "us": "us", "ms": "ms", "s": "s", "pct": "%", "bps": "bit", "bit": "bit",
                 "kbit": "kbit", "mbit": "mbit", "gbit": "gbit"}
TIME_COLUMNS = {"t": "", "t_s": "s", "t_ms": "ms"}
INTERPOLATIONS = ("step", "linear")


@dataclass(frozen=True)
class Column:
    """One field's values, row by row, in the Impairment attribute's unit (`delay_us`, `rate_bps`…)."""

    key: str
    attr: str
    linear: bool
    values: tuple[Any, ...]


@dataclass(frozen=True)
class TimeSeries:
    source: str
    times_s: tuple[float, ...]
    columns: tuple[Column, ...]
    lines: tuple[int, ...]  # the file line of each row


@dataclass(frozen=True)
class _Header:
    key: str
    unit: str  # appended to bare cells; "" when cells carry their own unit
    linear: bool


def _parse_header(name: str, source: str) -> _Header:
    base, _, how = name.strip().partition(":")
    if how and how not in INTERPOLATIONS:
        raise TraceError(source, 1, name, how, f"an interpolation: {' or '.join(INTERPOLATIONS)}")
    if base in TIME_COLUMNS:
        return _Header("t", TIME_COLUMNS[base], False)
    if base in REPLAYABLE:
        return _Header(base, "", how == "linear")
    key, _, suffix = base.rpartition("_")
    if key in REPLAYABLE and suffix in UNIT_SUFFIXES:
        return _Header(key, UNIT_SUFFIXES[suffix], how == "linear")
    raise TraceError(source, 1, name, name,
                     f"unknown column; allowed: t (or t_s, t_ms) and {', '.join(REPLAYABLE)}, each "
                     f"optionally with a unit suffix (_{', _'.join(UNIT_SUFFIXES)}) and :linear or :step")


def _cell(value: str, header: _Header, source: str, line: int) -> Any:
    text = value.strip()
    if not text:
        raise TraceError(source, line, header.key, value, "a value in every cell")
    if header.unit:
        try:
            float(text)
        except ValueError:
            raise TraceError(source, line, header.key, value,
                             f"a bare number (the header gives the unit: {header.unit})") from None
        text += header.unit
    if header.key == "t":
        parsed = units.parse_seconds(text)
        allowed = "a time with a unit (250ms, 1.5s), or bare numbers under a t_s or t_ms header"
    else:
        parsed = FIELDS[header.key].parse(text)
        allowed = FIELDS[header.key].allowed
    if parsed is None:
        raise TraceError(source, line, header.key, value, allowed)
    return parsed


def _check_times(times: list[float], lines: list[int], source: str) -> None:
    if times[0] != 0:
        raise TraceError(source, lines[0], "t", times[0], "the first row is at t = 0")
    for index in range(1, len(times)):
        if times[index] - times[index - 1] < MIN_STEP_S - 1e-9:
            raise TraceError(source, lines[index], "t", times[index],
                             f"after the previous row (t = {times[index - 1]:g} s) by at least 10 ms")


def parse_series(text: str, source: str) -> TimeSeries:
    """Parse a CSV time series; `#` comment lines and blank lines are skipped."""
    numbered = [(n, line) for n, line in enumerate(text.splitlines(), start=1)
                if line.strip() and not line.lstrip().startswith("#")]
    if not numbered:
        raise TraceError(source, 0, "(file)", "", "a header line and at least one row (the file is empty)")
    header_line, header_text = numbered[0]
    names = next(csv.reader(io.StringIO(header_text)))
    headers = [_parse_header(name, f"{source}") for name in names]
    keys = [h.key for h in headers]
    if "t" not in keys:
        raise TraceError(source, header_line, "t", header_text, "a time column: t, t_s or t_ms")
    duplicated = sorted({k for k in keys if keys.count(k) > 1})
    if duplicated:
        raise TraceError(source, header_line, duplicated[0], header_text, "each column once")
    if len(keys) < 2:
        raise TraceError(source, header_line, "(header)", header_text, "t and at least one field column")
    rows: list[list[Any]] = []
    lines: list[int] = []
    for number, line in numbered[1:]:
        cells = next(csv.reader(io.StringIO(line)))
        if len(cells) != len(headers):
            raise TraceError(source, number, "(row)", line, f"{len(headers)} cells, as in the header")
        rows.append([_cell(cell, head, source, number) for cell, head in zip(cells, headers, strict=True)])
        lines.append(number)
    if not rows:
        raise TraceError(source, header_line, "(file)", "", "at least one row after the header")
    t_index = keys.index("t")
    times = [float(row[t_index]) for row in rows]
    _check_times(times, lines, source)
    columns = tuple(Column(h.key, FIELDS[h.key].attr, h.linear, tuple(row[i] for row in rows))
                    for i, h in enumerate(headers) if h.key != "t")
    return TimeSeries(source, tuple(times), columns, tuple(lines))
