"""QoS gates: `--assert rtt_p99_ms<80` checked against the result rows (pure: no I/O, no printing).

An expression is `COLUMN OP LIMIT`: COLUMN a `qos_result.csv` column name, OP one of `< <= > >= ==`,
LIMIT a number (`==` also takes a word, compared with the cell's text: `x_cache==HIT`). An assertion
applies to every row with a value in its column; it fails on each row whose value breaks it, and once
when no row measured the column at all (a gate that checks nothing must not pass).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "<=": operator.le, ">=": operator.ge, "==": operator.eq, "<": operator.lt, ">": operator.gt,
}
_EXPR = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|==|<|>)\s*(\S+)\s*$")


class GateError(ValueError):
    """A bad expression or an unknown column: a usage error (exit 2). `expression` is the text given."""

    def __init__(self, expression: str, reason: str) -> None:
        self.expression = expression
        self.reason = reason
        super().__init__(f"--assert {expression!r}: {reason}")


@dataclass(frozen=True)
class Assertion:
    column: str
    op: str
    limit: float | str

    @property
    def text(self) -> str:
        return f"{self.column}{self.op}{_show(self.limit)}"

    def holds(self, measured: float | str) -> bool:
        return OPERATORS[self.op](measured, self.limit)


@dataclass(frozen=True)
class Outcome:
    """One assertion against one row (`row` is None when no row measured the column)."""

    assertion: Assertion
    row: Mapping[str, Any] | None
    measured: float | str | None
    passed: bool
    family: bool = False  # the same tests ran over both families: say which this row is

    @property
    def test(self) -> str:
        """Which test the outcome is about: the row's kind (and label), or '-' when nothing measured."""
        return "-" if self.row is None else test_name(self.row, self.family)

    @property
    def message(self) -> str:
        a = self.assertion
        if self.measured is None:
            return f"{a.text}: not measured (no test wrote {a.column})"
        verdict = "ok" if self.passed else "FAILED"
        measured = _show(self.measured)
        return f"{a.text} [{self.test}]: {verdict}: measured {measured}, limit {a.op} {_show(a.limit)}"


def test_name(row: Mapping[str, Any], family: bool = False) -> str:
    """`qos (ci)`, or `qos IPv6 (ci)` when `family` (a run over both families: each test twice)."""
    label = str(row.get("label") or "")
    version = f" IPv{row.get('ip_version')}" if family and row.get("ip_version") not in (None, "") else ""
    return f"{row.get('kind', '?')}{version}{f' ({label})' if label else ''}"


def mixed_families(rows: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the rows come from more than one address family (`--family both`)."""
    return len({str(row.get("ip_version")) for row in rows if row.get("ip_version") not in (None, "")}) > 1


def _show(value: float | str) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse(expression: str, columns: Sequence[str]) -> Assertion:
    """`rtt_p99_ms<80` → Assertion; GateError names the problem (unknown column, operator, limit)."""
    match = _EXPR.match(expression)
    if not match:
        raise GateError(expression, f"expected COLUMN OP LIMIT with OP one of {' '.join(OPERATORS)} "
                                    "(e.g. rtt_p99_ms<80)")
    column, op, raw = match.groups()
    if column not in columns:
        close = [c for c in columns if column.split("_")[0] in c][:5]
        hint = f"; similar: {', '.join(close)}" if close else ""
        raise GateError(expression, f"unknown column {column!r} (names are qos_result.csv columns{hint})")
    limit = _number(raw)
    if limit is None and op != "==":
        raise GateError(expression, f"limit {raw!r} is not a number (only == compares text)")
    return Assertion(column, op, raw if limit is None else limit)


def parse_all(expressions: Iterable[str], columns: Sequence[str]) -> list[Assertion]:
    return [parse(e, columns) for e in expressions]


def split_env(text: str) -> list[str]:
    """CLIENT_ASSERT holds several expressions separated by `;` or `,`."""
    return [part.strip() for part in re.split(r"[;,]", text) if part.strip()]


def cell_value(value: Any, numeric: bool) -> float | str | None:
    """A row value as the gate compares it (None = not measured): bools as 1/0, numbers as float."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        value = 1.0 if value else 0.0
    if isinstance(value, int | float):
        number: float | None = float(value)
    else:
        number = _number(str(value))
    if numeric:
        return number
    return f"{number:g}" if isinstance(value, int | float) else str(value)


def evaluate(assertion: Assertion, rows: Sequence[Mapping[str, Any]]) -> list[Outcome]:
    numeric = isinstance(assertion.limit, float)
    family = mixed_families(rows)
    outcomes = []
    for row in rows:
        measured = cell_value(row.get(assertion.column), numeric)
        if measured is not None:
            outcomes.append(Outcome(assertion, row, measured, assertion.holds(measured), family))
    return outcomes or [Outcome(assertion, None, None, False)]


def check(assertions: Sequence[Assertion], rows: Sequence[Mapping[str, Any]]) -> list[Outcome]:
    """Every assertion against every row that measured its column, in the order given."""
    return [outcome for a in assertions for outcome in evaluate(a, rows)]
