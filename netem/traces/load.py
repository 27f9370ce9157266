"""A profile's `trace:` reference → the file's schedule; the format is told from the content.

    trace: cell.down                                  a path, relative to the profile file
    trace: {file: cell.down, window: 50ms}            Mahimahi: the rate window (default 20 ms)
    trace: {file: ramp.csv, loop: true}               a CSV series repeats instead of holding its last row
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from netem.core import units
from netem.core.errors import ProfileError
from netem.traces.errors import TraceError
from netem.traces.mahimahi import is_mahimahi, parse_mahimahi
from netem.traces.schedule import Schedule, from_delivery, from_series
from netem.traces.series import parse_series
from netem.traces.window import DEFAULT_WINDOW_MS, MAX_WINDOW_MS, MIN_WINDOW_MS

MAHIMAHI, SERIES = "mahimahi", "series"
SPEC_KEYS = ("file", "window", "loop")


@dataclass(frozen=True)
class TraceSpec:
    """What a profile says about one end's trace; `path` is resolved against the profile's directory."""

    file: str
    path: Path
    window_ms: int = DEFAULT_WINDOW_MS
    loop: bool | None = None  # None: the format's own (Mahimahi repeats, a CSV series holds its last row)


def detect(text: str) -> str:
    """`mahimahi` when the first data line is a bare integer, else `series` (a CSV header)."""
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return MAHIMAHI if is_mahimahi(line) else SERIES
    return SERIES


def schedule_from_text(text: str, source: str, window_ms: int = DEFAULT_WINDOW_MS,
                       loop: bool | None = None) -> Schedule:
    if detect(text) == MAHIMAHI:
        if loop is False:
            raise TraceError(source, 0, "loop", False, "a Mahimahi trace always repeats (mm-link semantics)")
        return from_delivery(parse_mahimahi(text, source), window_ms)
    return from_series(parse_series(text, source), loop=bool(loop))


def load_schedule(spec: TraceSpec) -> Schedule:
    try:
        text = spec.path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(str(spec.path), 0, "(file)", spec.file, f"a readable text file ({exc})") from exc
    return schedule_from_text(text, str(spec.path), spec.window_ms, spec.loop)


def parse_spec(raw: object, base_dir: Path, source: str, path: str) -> TraceSpec:
    """`trace: FILE` or `trace: {file, window, loop}` of a profile; errors name the profile key."""
    block = {"file": raw} if isinstance(raw, str) else raw
    if not isinstance(block, Mapping):
        raise ProfileError(source, path, raw, "a file name, or a mapping with file, window, loop")
    for key in block:
        if key not in SPEC_KEYS:
            raise ProfileError(source, f"{path}.{key}", block[key],
                               f"unknown key; allowed: {', '.join(SPEC_KEYS)}")
    name = block.get("file")
    if not isinstance(name, str) or not name.strip():
        raise ProfileError(source, f"{path}.file", name, "the trace file, relative to the profile")
    window_ms = DEFAULT_WINDOW_MS
    if "window" in block:
        micros = units.parse_time_us(block["window"])
        if micros is None or micros % 1000 or not MIN_WINDOW_MS <= micros // 1000 <= MAX_WINDOW_MS:
            raise ProfileError(source, f"{path}.window", block["window"],
                               f"whole milliseconds from {MIN_WINDOW_MS}ms to {MAX_WINDOW_MS}ms")
        window_ms = micros // 1000
    loop = block.get("loop")
    if loop is not None and not isinstance(loop, bool):
        raise ProfileError(source, f"{path}.loop", loop, "true or false")
    return TraceSpec(name, base_dir / name, window_ms, loop)
