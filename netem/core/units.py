"""Parse values with units (`40ms`, `0.5%`, `20mbit`, `64KiB`, `10s`) and format them for tc.

Bare numbers are rejected where tc would silently pick a unit (a bare delay is microseconds to tc,
a bare rate is bytes per second): the profile must say what it means.
"""

from __future__ import annotations

import re

_TIME_US = {"ns": 0.001, "us": 1.0, "µs": 1.0, "ms": 1000.0, "s": 1_000_000.0}
_RATE_BPS = {"bit": 1, "kbit": 10**3, "mbit": 10**6, "gbit": 10**9, "tbit": 10**12,
             "kibit": 2**10, "mibit": 2**20, "gibit": 2**30}
_SIZE_B = {"b": 1, "kb": 1000, "k": 1000, "kib": 1024, "mb": 10**6, "m": 10**6, "mib": 2**20}
_NUMBER = r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Zµ%]*)\s*"

TIME_ALLOWED = "a duration with a unit: 40ms, 500us, 1.5s"
PERCENT_ALLOWED = "a percentage 0-100 with a % sign: 0.5%, 25%"
RATE_ALLOWED = "a rate in bits per second with a unit: 500kbit, 20mbit, 1gbit (kibit/mibit/gibit too)"
SIZE_ALLOWED = "a byte count: 1514, 64KiB, 1MiB"


def _split(text: object) -> tuple[float, str] | None:
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        return None
    match = re.fullmatch(_NUMBER, str(text))
    if not match:
        return None
    return float(match.group(1)), match.group(2).lower()


def parse_time_us(text: object) -> int | None:
    """`40ms` → 40000; `0` alone is accepted (zero needs no unit). None when invalid."""
    parts = _split(text)
    if parts is None:
        return None
    number, unit = parts
    if unit == "" and number == 0:
        return 0
    if unit not in _TIME_US:
        return None
    micros = number * _TIME_US[unit]
    return round(micros) if abs(micros - round(micros)) < 1e-6 else None


def parse_seconds(text: object) -> float | None:
    """Step offsets: `10s`, `1500ms`, `2m`; None when invalid."""
    parts = _split(text)
    if parts is None:
        return None
    number, unit = parts
    if unit in ("m", "min"):
        return number * 60.0
    micros = parse_time_us(text)
    return None if micros is None else micros / 1e6


def parse_percent(text: object) -> float | None:
    """`0.5%` → 0.5; a bare number is refused (is 0.5 half a percent or fifty?)."""
    parts = _split(text)
    if parts is None or parts[1] != "%" or not 0.0 <= parts[0] <= 100.0:
        return None
    return parts[0]


def parse_rate_bps(text: object) -> int | None:
    """`20mbit` → 20_000_000. tc's `mbps` (megabytes!) is refused by design."""
    parts = _split(text)
    if parts is None or parts[1] not in _RATE_BPS:
        return None
    bps = round(parts[0] * _RATE_BPS[parts[1]])
    return bps if bps > 0 else None


def parse_size_b(text: object) -> int | None:
    """`1514` or `64KiB` → bytes."""
    parts = _split(text)
    if parts is None:
        return None
    number, unit = parts
    if unit == "":
        return int(number) if number == int(number) else None
    return round(number * _SIZE_B[unit]) if unit in _SIZE_B else None


def format_time(micros: int) -> str:
    """40000 → `40ms`; 1500 → `1500us` (tc reads both)."""
    if micros % 1000 == 0:
        return f"{micros // 1000}ms"
    return f"{micros}us"


def format_percent(value: float) -> str:
    return f"{value:.6g}%"


def format_rate(bps: int) -> str:
    """20_000_000 → `20mbit` (SI units, exact)."""
    for unit, factor in (("gbit", 10**9), ("mbit", 10**6), ("kbit", 10**3)):
        if bps % factor == 0:
            return f"{bps // factor}{unit}"
    return f"{bps}bit"
