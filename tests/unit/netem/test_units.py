import pytest

from netem.core import units


@pytest.mark.parametrize(("text", "micros"), [
    ("40ms", 40_000), ("500us", 500), ("1.5s", 1_500_000), ("250µs", 250), (0, 0), ("0", 0),
    ("40", None), (40, None), ("40 parsecs", None), ("0.5us", None), ("-1ms", None), (True, None),
])
def test_parse_time_us(text: object, micros: int | None) -> None:
    assert units.parse_time_us(text) == micros


@pytest.mark.parametrize(("text", "pct"), [
    ("0.5%", 0.5), ("100%", 100.0), ("0%", 0.0), ("0.5", None), (0.5, None), ("101%", None), ("x%", None),
])
def test_parse_percent(text: object, pct: float | None) -> None:
    assert units.parse_percent(text) == pct


@pytest.mark.parametrize(("text", "bps"), [
    ("20mbit", 20_000_000), ("1gbit", 10**9), ("750kbit", 750_000), ("1mibit", 2**20), ("300bit", 300),
    ("20mbps", None), ("20", None), ("0mbit", None), ("fast", None),
])
def test_parse_rate_bps(text: object, bps: int | None) -> None:
    assert units.parse_rate_bps(text) == bps


@pytest.mark.parametrize(("text", "seconds"), [("10s", 10.0), ("1500ms", 1.5), ("2m", 120.0), ("10", None)])
def test_parse_seconds(text: object, seconds: float | None) -> None:
    assert units.parse_seconds(text) == seconds


@pytest.mark.parametrize(("text", "size"), [(1514, 1514), ("64KiB", 65536), ("1.5", None), ("3parsec", None)])
def test_parse_size_b(text: object, size: int | None) -> None:
    assert units.parse_size_b(text) == size


def test_format_round_trips() -> None:
    assert units.format_time(40_000) == "40ms"
    assert units.format_time(250) == "250us"
    assert units.format_rate(20_000_000) == "20mbit"
    assert units.format_rate(750_000) == "750kbit"
    assert units.format_rate(1_048_576) == "1048576bit"
    assert units.format_percent(0.5) == "0.5%"
    assert units.format_percent(25.0) == "25%"
