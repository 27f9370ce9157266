"""QoS parameters and the send schedule."""

from __future__ import annotations

import random

import pytest

from services.client.qos.config import QosConfig, QosConfigError, parse_rate, schedule_ns


def test_fixed_schedule() -> None:
    config = QosConfig("h", 1, count=4, interval_s=0.001)
    assert schedule_ns(config, random.Random(1)) == [0, 1_000_000, 2_000_000, 3_000_000]


def test_duration_schedule() -> None:
    config = QosConfig("h", 1, count=None, duration_s=0.05, interval_s=0.01)
    assert len(schedule_ns(config, random.Random(1))) == 5


def test_burst_schedule_keeps_mean_rate() -> None:
    config = QosConfig("h", 1, count=6, interval_s=0.001, burst=3)
    assert schedule_ns(config, random.Random(1)) == [0, 0, 0, 3_000_000, 3_000_000, 3_000_000]


def test_poisson_schedule_is_seeded_and_has_the_mean() -> None:
    config = QosConfig("h", 1, count=5000, interval_s=0.001, poisson=True)
    first = schedule_ns(config, random.Random(3))
    assert first == schedule_ns(config, random.Random(3))
    assert first[-1] / (len(first) - 1) == pytest.approx(1_000_000, rel=0.05)
    assert first == sorted(first)


def test_parse_rate() -> None:
    assert parse_rate("1000pps", 100) == pytest.approx(0.001)
    assert parse_rate("2kpps", 100) == pytest.approx(0.0005)
    assert parse_rate("800kbit", 100) == pytest.approx(0.001)
    assert parse_rate("1Mbps", 125) == pytest.approx(0.001)
    for bad in ("fast", "0pps", "10"):
        with pytest.raises(ValueError):
            parse_rate(bad, 100)


@pytest.mark.parametrize("changes, field", [
    ({"count": 0}, "count"), ({"count": None}, "count"), ({"size": 10}, "size"), ({"burst": 0}, "burst"),
    ({"tos": 256}, "tos"), ({"wait_s": -1.0}, "wait"),
    ({"count": None, "duration_s": 1.0, "interval_s": 0.0}, "interval"),
])
def test_validation_names_the_field(changes: dict[str, object], field: str) -> None:
    values: dict[str, object] = {"host": "h", "port": 1, **changes}
    with pytest.raises(QosConfigError) as caught:
        QosConfig(**values).validate()  # type: ignore[arg-type]
    assert caught.value.field == field
