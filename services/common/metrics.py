"""Prometheus text exposition format (version 0.0.4), written with the standard library.

The services keep their counters where they always did (stats dataclasses, the relay's totals); at scrape
time they turn them into `Family` values with `counter`/`gauge`, add their own `LabelledCounter` and
`Histogram` (fixed buckets), and `render` writes the text. No clocks, no I/O.

    # HELP qoslab_proxy_http_requests_total Requests answered, by status and cache result.
    # TYPE qoslab_proxy_http_requests_total counter
    qoslab_proxy_http_requests_total{status="200",cache="HIT"} 3
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
KINDS = ("counter", "gauge", "histogram")

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Sample:
    name: str
    labels: Labels
    value: float


@dataclass(frozen=True)
class Family:
    name: str
    kind: str
    help: str
    samples: tuple[Sample, ...]

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"invalid metric name {self.name!r}")
        if self.kind not in KINDS:
            raise ValueError(f"metric kind {self.kind!r}: expected one of {', '.join(KINDS)}")
        for sample in self.samples:
            for label, _ in sample.labels:
                if not _LABEL.match(label) or label.startswith("__"):
                    raise ValueError(f"{self.name}: invalid label name {label!r}")


def counter(name: str, help_text: str, value: float, **labels: str) -> Family:
    """A counter family with one sample (`name` ends in `_total`)."""
    return Family(name, "counter", help_text, (Sample(name, tuple(labels.items()), value),))


def gauge(name: str, help_text: str, value: float, **labels: str) -> Family:
    return Family(name, "gauge", help_text, (Sample(name, tuple(labels.items()), value),))


def labelled(name: str, kind: str, help_text: str, label: str, values: Iterable[tuple[str, float]]) -> Family:
    """One family with one sample per value of a single label: `[("up", 3), ("down", 2)]`."""
    return Family(name, kind, help_text, tuple(Sample(name, ((label, key),), value) for key, value in values))


class LabelledCounter:
    """A counter with fixed label names, incremented by label values."""

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str]) -> None:
        self.name, self.help, self.labelnames = name, help_text, tuple(labelnames)
        self._values: dict[tuple[str, ...], float] = {}

    def inc(self, *labelvalues: str, amount: float = 1) -> None:
        if len(labelvalues) != len(self.labelnames):
            raise ValueError(f"{self.name}: expected labels {self.labelnames}, got {labelvalues}")
        if amount < 0:
            raise ValueError(f"{self.name}: a counter only goes up (got {amount})")
        self._values[labelvalues] = self._values.get(labelvalues, 0) + amount

    def value(self, *labelvalues: str) -> float:
        return self._values.get(labelvalues, 0)

    def family(self) -> Family:
        samples = tuple(Sample(self.name, tuple(zip(self.labelnames, key, strict=True)), value)
                        for key, value in sorted(self._values.items()))
        return Family(self.name, "counter", self.help, samples)


class Histogram:
    """Observations counted into fixed upper bounds (`le`), plus their sum and count."""

    def __init__(self, name: str, help_text: str, buckets: Sequence[float]) -> None:
        bounds = tuple(float(b) for b in buckets)
        if not bounds or list(bounds) != sorted(set(bounds)) or any(math.isnan(b) for b in bounds):
            raise ValueError(f"{name}: buckets must be distinct and increasing, got {buckets}")
        if math.isinf(bounds[-1]):
            bounds = bounds[:-1]
        self.name, self.help, self.bounds = name, help_text, bounds
        self._counts = [0] * (len(bounds) + 1)  # per bucket, the last one is +Inf
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self._counts[bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def family(self) -> Family:
        samples: list[Sample] = []
        cumulative = 0
        for bound, count in zip((*self.bounds, math.inf), self._counts, strict=True):
            cumulative += count
            samples.append(Sample(self.name + "_bucket", (("le", format_value(bound)),), cumulative))
        samples.append(Sample(self.name + "_sum", (), self.sum))
        samples.append(Sample(self.name + "_count", (), self.count))
        return Family(self.name, "histogram", self.help, tuple(samples))


def format_value(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def render(families: Iterable[Family]) -> bytes:
    """The exposition text; each family once, its samples in the order given."""
    lines: list[str] = []
    seen: set[str] = set()
    for family in families:
        if family.name in seen:
            raise ValueError(f"metric family {family.name!r} appears twice")
        seen.add(family.name)
        lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        for sample in family.samples:
            labels = ",".join(f'{k}="{_escape_label(v)}"' for k, v in sample.labels)
            lines.append(f"{sample.name}{{{labels}}} {format_value(sample.value)}" if labels
                         else f"{sample.name} {format_value(sample.value)}")
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""
