"""A recording → a replayable profile: per-window delay as a trace, jitter as a table, Gilbert-Elliott loss.

Per direction (up = client → echo, down = back):
- the recording is cut into windows (default: 10 probe intervals); each window's median one-way delay,
  minus the testbed's own base delay, becomes a row of the trace (`NAME.DIR.csv`, t_ms,delay_us);
- what is left of each probe's delay around its window's median becomes netem's delay distribution
  (`NAME.DIR.dist`, maketable format) with its jitter;
- the loss sequence is fitted with `gefit` (netem `gemodel`).
The base: a recording already contains the delay of the path it was made on, and a replay adds the
testbed's own path once more. `--base RAW` (a recording of the unimpaired testbed) measures it; its
median per direction is taken off every window. Its variation is in the recording too (inside each
window's spread, hence in the tables), and the replay adds it once more: a right-skewed one (a busy or
emulated host: processing delays are never negative) moves the replayed median up. So the model of
the replay draws a whole base RTT per sample (not the base's medians), and the windows are shifted
together until the model's median RTT is the recording's (`calibrate`; `python -m netem record` prints
the fit after it). Without shared clocks each direction is RTT/2 and all of the RTT's variation goes on
the up direction (so the round-trip distribution is reproduced exactly).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

from netem.traces import distribution, gefit
from netem.traces.distribution import DelayTable
from netem.traces.gefit import GeFit
from netem.traces.recording import Recording, median, windows

MIN_WINDOW_S = 0.010
DEFAULT_WINDOW_PROBES = 10
MODEL_SAMPLES = 20_000
CALIBRATION_ROUNDS = 4
CALIBRATION_TOLERANCE_MS = 0.02


@dataclass(frozen=True)
class Base:
    """The testbed's own one-way delays (ms), taken off the recorded ones."""

    up_ms: float = 0.0
    down_ms: float = 0.0
    source: str = "none"
    rtts_ms: tuple[float, ...] = ()  # the base recording's RTTs: its variation, which a replay adds again


@dataclass(frozen=True)
class DirectionFit:
    direction: str
    delays_ms: tuple[float, ...]  # per window, what netem adds (base taken off), gaps filled
    table: DelayTable | None
    loss: GeFit
    recorded_median_ms: float


@dataclass(frozen=True)
class Model:
    recording: Recording
    window_s: float
    base: Base
    up: DirectionFit
    down: DirectionFit
    shift_ms: float = 0.0  # what `calibrate` added to every window, each way

    def direction(self, name: str) -> DirectionFit:
        return self.up if name == "up" else self.down


def measure_base(recording: Recording) -> Base:
    """The median one-way delay each way of a recording of the unimpaired testbed."""
    up = median([d for _, d in recording.delays_ms("up")])
    down = median([d for _, d in recording.delays_ms("down")])
    if math.isnan(up) or math.isnan(down):
        raise ValueError(f"{recording.source}: no probe came back, so it measures no base delay")
    return Base(up, down, recording.source, tuple(recording.rtts_ms()))


def default_window_s(recording: Recording) -> float:
    return max(MIN_WINDOW_S, round(DEFAULT_WINDOW_PROBES * recording.interval_s, 3))


def _filled(medians: list[float]) -> list[float]:
    """Windows without a delay take the previous window's (the first known one at the start)."""
    known = next((m for m in medians if not math.isnan(m)), 0.0)
    out = []
    for value in medians:
        known = known if math.isnan(value) else value
        out.append(known)
    return out


def _direction(recording: Recording, name: str, window_s: float, base_ms: float) -> DirectionFit:
    pairs = recording.delays_ms(name)
    count = int(recording.duration_s // window_s) + 1
    grouped = windows(pairs, window_s, count)
    medians = _filled([median(values) for values in grouped])
    variation: list[float] = []
    if name == "up" or recording.shared_clock:
        source = pairs if recording.shared_clock else _rtt_pairs(recording)
        centres = _filled([median(v) for v in windows(source, window_s, count)])
        variation = [(value - centres[int(t // window_s)]) * 1000 for t, value in source
                     if int(t // window_s) < count]
    table = distribution.from_samples(variation)
    delays = tuple(max(m - base_ms, 0.0) for m in medians)
    return DirectionFit(name, delays, table, gefit.fit(recording.loss_sequence(name)),
                        median([d for _, d in pairs]))


def _rtt_pairs(recording: Recording) -> list[tuple[float, float]]:
    return [(p.send_s, p.rtt_ms) for p in recording.probes if p.rtt_ms is not None]


def build(recording: Recording, window_s: float | None = None, base: Base | None = None) -> Model:
    window = window_s or default_window_s(recording)
    if window < MIN_WINDOW_S:
        raise ValueError(f"window {window * 1000:g} ms: at least 10 ms (a trace row per window)")
    if not recording.rtts_ms():
        raise ValueError(f"{recording.source}: no probe came back; there is nothing to replay")
    base = base or Base()
    model = Model(recording, window, base, _direction(recording, "up", window, base.up_ms),
                  _direction(recording, "down", window, base.down_ms))
    return calibrate(model) if base.rtts_ms else model


def _shifted(fit: DirectionFit, by_ms: float) -> DirectionFit:
    return replace(fit, delays_ms=tuple(max(d + by_ms, 0.0) for d in fit.delays_ms))


def calibrate(model: Model) -> Model:
    """Shift every window (half each way) until the modelled replay's median RTT is the recording's. The
    model draws the same samples each round, so a shift moves each by exactly its size: one round, and
    more only where windows were clipped at 0."""
    target = median(model.recording.rtts_ms())
    for _ in range(CALIBRATION_ROUNDS):
        gap = median(model_rtts_ms(model)) - target
        if abs(gap) <= CALIBRATION_TOLERANCE_MS:
            break
        model = replace(model, up=_shifted(model.up, -gap / 2), down=_shifted(model.down, -gap / 2),
                        shift_ms=model.shift_ms - gap / 2)
    return model


def model_rtts_ms(model: Model, samples: int = MODEL_SAMPLES, seed: int = 1) -> list[float]:
    """RTTs the replay should measure on a testbed whose own path is `model.base` (Monte Carlo): the
    window's delays and a table sample each way, plus a base RTT (or the base's medians, without them)."""
    rng = random.Random(seed)
    choice, randrange = rng.choice, rng.randrange
    sent = [p.send_s for p in model.recording.probes if p.rtt_ms is not None]
    base = model.base
    window_s, last = model.window_s, len(model.up.delays_ms) - 1
    # per direction: the window delays and the table's samples in ms, looked up once
    ways = [(fit.delays_ms, [fit.table.sample_us(i) / 1000 for i in range(len(fit.table.values))]
             if fit.table is not None else None) for fit in (model.up, model.down)]
    out = []
    for _ in range(samples):
        w = min(int(choice(sent) // window_s), last)
        total = choice(base.rtts_ms) if base.rtts_ms else base.up_ms + base.down_ms
        for delays, table_ms in ways:
            total += delays[w]
            if table_ms is not None:
                total += table_ms[randrange(len(table_ms))]
        out.append(total)
    return sorted(out)
