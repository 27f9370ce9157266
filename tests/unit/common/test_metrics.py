"""The Prometheus text writer, checked against golden text and prometheus_client's own parser."""

from __future__ import annotations

import math

import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.common.metrics import (
    Family,
    Histogram,
    LabelledCounter,
    Sample,
    counter,
    format_value,
    gauge,
    labelled,
    render,
)


def _parse(text: bytes) -> dict[str, object]:
    return {f.name: f for f in text_string_to_metric_families(text.decode())}


def test_golden_counter_and_gauge() -> None:
    text = render([counter("x_total", "Things.", 3), gauge("y", "Now.", 1.5, side="up")])
    assert text == (b"# HELP x_total Things.\n# TYPE x_total counter\nx_total 3\n"
                    b'# HELP y Now.\n# TYPE y gauge\ny{side="up"} 1.5\n')


def test_histogram_buckets_are_cumulative_with_sum_and_count() -> None:
    hist = Histogram("lat_seconds", "Latency.", (0.01, 0.1, 1.0))
    for value in (0.005, 0.01, 0.05, 0.5, 7.0):
        hist.observe(value)
    families = _parse(render([hist.family()]))
    samples = {(s.name, s.labels.get("le")): s.value for s in families["lat_seconds"].samples}  # type: ignore[attr-defined]
    assert samples[("lat_seconds_bucket", "0.01")] == 2  # le is inclusive
    assert samples[("lat_seconds_bucket", "0.1")] == 3
    assert samples[("lat_seconds_bucket", "1")] == 4
    assert samples[("lat_seconds_bucket", "+Inf")] == 5
    assert samples[("lat_seconds_count", None)] == 5
    assert samples[("lat_seconds_sum", None)] == pytest.approx(7.565)


def test_labelled_counter_round_trips_through_the_official_parser() -> None:
    requests = LabelledCounter("req_total", "Requests.", ("status", "cache"))
    requests.inc("200", "MISS")
    requests.inc("200", "HIT", amount=2)
    requests.inc("404", "-")
    families = _parse(render([requests.family()]))
    family = families["req"]  # the parser names a counter family without _total
    assert family.type == "counter"  # type: ignore[attr-defined]
    got = {(s.labels["status"], s.labels["cache"]): s.value for s in family.samples}  # type: ignore[attr-defined]
    assert got == {("200", "HIT"): 2, ("200", "MISS"): 1, ("404", "-"): 1}


def test_label_values_and_help_are_escaped() -> None:
    text = render([labelled("odd_total", "counter", 'Back\\slash\nnewline "quoted"', "path",
                            [('a"b\\c\nd', 1)])])
    family = _parse(text)["odd"]
    assert family.documentation == 'Back\\slash\nnewline "quoted"'  # type: ignore[attr-defined]
    assert family.samples[0].labels == {"path": 'a"b\\c\nd'}  # type: ignore[attr-defined]


@pytest.mark.parametrize(("value", "text"), [(3, "3"), (3.0, "3"), (0.25, "0.25"), (math.inf, "+Inf"),
                                             (-math.inf, "-Inf"), (math.nan, "NaN"), (1e20, "1e+20")])
def test_values(value: float, text: str) -> None:
    assert format_value(value) == text


def test_bad_input_is_refused_with_the_name() -> None:
    with pytest.raises(ValueError, match="invalid metric name"):
        counter("bad-name", "x", 1)
    with pytest.raises(ValueError, match="invalid label name"):
        Family("ok", "counter", "x", (Sample("ok", (("__reserved", "v"),), 1),))
    with pytest.raises(ValueError, match="kind"):
        Family("ok", "summary", "x", ())
    with pytest.raises(ValueError, match="appears twice"):
        render([gauge("a", "x", 1), gauge("a", "x", 2)])
    with pytest.raises(ValueError, match="only goes up"):
        LabelledCounter("c_total", "x", ("k",)).inc("v", amount=-1)
    with pytest.raises(ValueError, match="expected labels"):
        LabelledCounter("c_total", "x", ("k",)).inc("v", "w")
    with pytest.raises(ValueError, match="increasing"):
        Histogram("h", "x", (1.0, 0.5))
