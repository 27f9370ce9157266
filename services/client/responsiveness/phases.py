"""The test's timeline (pure): phases like crusader's — idle, download, upload, both — with gaps.

Every phase runs for a fixed time; between phases a gap lets the queues drain, so one phase's backlog
does not leak into the next one's numbers (the probes keep running, so the plot shows the drain).
Statistics of a loaded phase come from its *window*: the last MAD × ID seconds (the draft computes its
final result over the last MAD intervals, once the queue has filled); an idle phase uses all of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

IDLE, DOWNLOAD, UPLOAD, BOTH = "idle", "download", "upload", "both"
ALL_PHASES = (IDLE, DOWNLOAD, UPLOAD, BOTH)
LOADS = {IDLE: (False, False), DOWNLOAD: (True, False), UPLOAD: (False, True), BOTH: (True, True)}


class PhaseError(ValueError):
    """A phase list or duration that cannot make a timeline."""


@dataclass(frozen=True)
class Phase:
    name: str
    start_s: float  # since the start of the test
    end_s: float
    window_start_s: float  # statistics from here to end_s

    @property
    def down(self) -> bool:
        return LOADS[self.name][0]

    @property
    def up(self) -> bool:
        return LOADS[self.name][1]

    @property
    def loaded(self) -> bool:
        return self.down or self.up

    @property
    def window_s(self) -> float:
        return self.end_s - self.window_start_s

    def in_window(self, t_s: float) -> bool:
        return self.window_start_s <= t_s < self.end_s


def parse_phases(text: str) -> tuple[str, ...]:
    """`idle,download,upload,both` (any order, each at most once) → names."""
    names = tuple(part.strip().lower() for part in text.split(",") if part.strip())
    unknown = [n for n in names if n not in LOADS]
    if unknown or not names:
        raise PhaseError(f"phases must be some of {', '.join(ALL_PHASES)} (got {text!r})")
    if len(set(names)) != len(names):
        raise PhaseError(f"a phase is listed twice in {text!r}")
    return names


def plan(names: Sequence[str], idle_s: float, load_s: float, gap_s: float,
         window_s: float) -> list[Phase]:
    """Back-to-back phases with `gap_s` between them; a loaded phase's window is its last `window_s`."""
    if not names:
        raise PhaseError("no phase to run")
    if idle_s <= 0 or load_s <= 0 or gap_s < 0 or window_s <= 0:
        raise PhaseError("phase durations and the window must be positive (the gap may be 0)")
    phases, t = [], 0.0
    for index, name in enumerate(names):
        if index:
            t += gap_s
        length = load_s if LOADS[name] != (False, False) else idle_s
        start = t if name == IDLE else max(t, t + length - window_s)
        phases.append(Phase(name, t, t + length, start))
        t += length
    return phases


def total_s(phases: Sequence[Phase]) -> float:
    return phases[-1].end_s if phases else 0.0


def phase_at(phases: Sequence[Phase], t_s: float) -> Phase | None:
    """The phase running at `t_s`, None in a gap or after the end."""
    return next((p for p in phases if p.start_s <= t_s < p.end_s), None)


@dataclass(frozen=True)
class Change:
    """At `at_s`, the load should become (down, up) flows on/off; `phase` names what starts or ends."""

    at_s: float
    phase: str
    down: bool
    up: bool


def changes(phases: Sequence[Phase]) -> list[Change]:
    """Load switches in time order: on at each loaded phase's start, off at its end."""
    out = []
    for phase in phases:
        if phase.loaded:
            out.append(Change(phase.start_s, phase.name, phase.down, phase.up))
            out.append(Change(phase.end_s, phase.name, False, False))
    return out


class Timeline:
    """Hands out each load change once, when it is due (the engine asks on every tick)."""

    def __init__(self, phases: Sequence[Phase]) -> None:
        self._pending = changes(phases)
        self.end_s = total_s(phases)

    def due(self, t_s: float) -> list[Change]:
        ready = [c for c in self._pending if c.at_s <= t_s]
        self._pending = self._pending[len(ready):]
        return ready

    def next_s(self) -> float:
        """When the next change is due (the end of the test when none is left)."""
        return self._pending[0].at_s if self._pending else self.end_s
