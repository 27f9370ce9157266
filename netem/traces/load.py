"""A profile with its files: every `trace:` read into a schedule, every `distribution: NAME.dist` table read,
and every state a trace moves an end through checked against the same rules as a static profile.

    trace: cell.down                                  a path, relative to the profile file
    trace: {file: cell.down, window: 50ms}            Mahimahi: the rate window (default 20 ms)
    trace: {file: ramp.csv, loop: true}               a CSV series repeats instead of holding its last row

The format is told from the content (a Mahimahi trace's lines are bare integers; a CSV has a header).
`load` is what every command uses before applying anything, so a bad file stops it with file:line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from netem.core import rules
from netem.core.fields import Impairment, TraceRef, custom_table
from netem.core.profile import Profile, load_profile
from netem.traces import distribution
from netem.traces.errors import TraceError
from netem.traces.mahimahi import is_mahimahi, parse_mahimahi
from netem.traces.schedule import Schedule, from_delivery, from_series
from netem.traces.series import parse_series
from netem.traces.window import DEFAULT_WINDOW_MS

MAHIMAHI, SERIES = "mahimahi", "series"


def detect(text: str) -> str | None:
    """`mahimahi` when the first data line is a bare integer, `series` for a CSV header, None: no data."""
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return MAHIMAHI if is_mahimahi(line) else SERIES
    return None


def schedule_from_text(text: str, source: str, window_ms: int = DEFAULT_WINDOW_MS,
                       loop: bool | None = None) -> Schedule:
    kind = detect(text)
    if kind is None:
        raise TraceError(source, 0, "(file)", "",
                         "delivery opportunities or a CSV series (the trace is empty)")
    if kind == MAHIMAHI:
        if loop is False:
            raise TraceError(source, 0, "loop", False, "a Mahimahi trace always repeats (mm-link semantics)")
        return from_delivery(parse_mahimahi(text, source), window_ms)
    return from_series(parse_series(text, source), loop=bool(loop))


@dataclass(frozen=True)
class Loaded:
    """A profile and what its files hold: schedules by trace reference, tables by file name."""

    profile: Profile
    base_dir: Path
    schedules: Mapping[TraceRef, Schedule]
    tables: Mapping[str, tuple[int, ...]]

    def files(self) -> list[str]:
        """The files the profile refers to, relative to its directory (what a bundle carries)."""
        return sorted({ref.file for ref in self.schedules} | set(self.tables))

    def state_at(self, imp: Impairment, elapsed_s: float) -> Impairment:
        """An end's settings `elapsed_s` after its trace's epoch (the static settings without a trace)."""
        if imp.trace is None:
            return imp
        return replace(imp, **self.schedules[imp.trace].values_at(elapsed_s))


def _inside(name: str, base: Path, source: str, key: str) -> Path:
    relative = PurePosixPath(name)
    if relative.is_absolute() or ".." in relative.parts:
        raise TraceError(source, 0, key, name,
                         "a file beside the profile or below it (no absolute path, no ..)")
    return base / relative


def _read(path: Path, source: str, key: str, name: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(source, 0, key, name, f"a readable text file next to the profile ({exc})") from exc


def _check_states(key: str, imp: Impairment, schedule: Schedule, source: str) -> None:
    for change in schedule.changes:
        state = replace(imp, **change.values)
        for bad in rules.violations(state):
            raise TraceError(schedule.source, 0, f"{key}.{bad.key}", bad.value,
                             f"at t = {change.at_s:g} s with the settings of {source}: {bad.message}")


def check(profile: Profile) -> Loaded:
    """Read and check every file the profile refers to; raises TraceError naming the file and line."""
    base = Path(profile.source).parent
    schedules: dict[TraceRef, Schedule] = {}
    tables: dict[str, tuple[int, ...]] = {}
    for key, imp in profile.all_settings():
        if imp.trace is not None and imp.trace not in schedules:
            path = _inside(imp.trace.file, base, profile.source, f"{key}.trace")
            text = _read(path, profile.source, f"{key}.trace", imp.trace.file)
            schedules[imp.trace] = schedule_from_text(text, str(path), imp.trace.window_ms, imp.trace.loop)
        if imp.trace is not None:
            _check_states(key, imp, schedules[imp.trace], profile.source)
        table = custom_table(imp)
        if table is not None and table not in tables:
            path = _inside(table, base, profile.source, f"{key}.distribution")
            text = _read(path, profile.source, f"{key}.distribution", table)
            tables[table] = distribution.parse(text, str(path))
    return Loaded(profile, base, schedules, tables)


def load(name_or_path: str) -> Loaded:
    """`load_profile` and `check`: the profile and its files, all valid, or an error naming what is not."""
    return check(load_profile(name_or_path))
