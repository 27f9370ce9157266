"""A fitted recording as files: the profile (YAML), a trace and a distribution table per direction, and
the fit's quality (recorded vs fitted), which `python -m netem record` prints and the profile keeps as
comments."""

from __future__ import annotations

from dataclasses import dataclass

from netem.core.units import format_percent
from netem.traces import distribution
from netem.traces.gefit import GeFit
from netem.traces.recorder import DirectionFit, Model, model_rtts_ms

DIRECTIONS = ("up", "down")


@dataclass(frozen=True)
class QualityLine:
    what: str
    recorded: float
    fitted: float
    unit: str


def _pct(part: float) -> float:
    return round(100 * part, 4)


def _quantile(ordered: list[float], q: float) -> float:
    rank = (len(ordered) - 1) * q
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def quality(model: Model) -> list[QualityLine]:
    """Fitted vs recorded: loss rate and mean burst per direction, RTT percentiles."""
    lines = []
    for name in DIRECTIONS:
        fit = model.direction(name).loss
        fitted_rate = fit.params.loss_rate() if fit.params else 0.0
        fitted_burst = fit.params.mean_burst() if fit.params else 0.0
        lines.append(QualityLine(f"loss {name}", _pct(fit.loss_rate), _pct(fitted_rate), "%"))
        lines.append(QualityLine(f"mean loss burst {name}", round(fit.mean_burst, 3), round(fitted_burst, 3),
                                 "packets"))
    recorded = sorted(model.recording.rtts_ms())
    modelled = model_rtts_ms(model)
    for q in (0.5, 0.9, 0.99):
        lines.append(QualityLine(f"RTT p{round(q * 100)}", round(_quantile(recorded, q), 3),
                                 round(_quantile(modelled, q), 3), "ms"))
    return lines


def _gemodel(fit: GeFit) -> str:
    assert fit.params is not None
    ge = fit.params
    return (f"{{p: {format_percent(100 * ge.p)}, r: {format_percent(100 * ge.r)}, "
            f"1-h: {format_percent(100 * ge.one_minus_h)}, 1-k: {format_percent(100 * ge.one_minus_k)}}}")


def _delay_block(fit: DirectionFit, stem: str) -> list[str]:
    """The direction's edge end: the per-window delay as a looping trace, the variation as a table."""
    lines = [f"  {fit.direction}:", f"    trace: {{file: {stem}.{fit.direction}.csv, loop: true}}",
             f"    delay: {round(fit.delays_ms[0] * 1000)}us"]
    if fit.table is not None:
        lines += [f"    jitter: {fit.table.sigma_us}us", f"    distribution: {stem}.{fit.direction}.dist"]
    return lines


def _loss_block(fit: DirectionFit) -> list[str]:
    """The direction's core end: its loss. Not on the traced edge end: the kernel restarts a
    Gilbert-Elliott chain in Good at every change (netem_change), which would cut every burst short."""
    return [f"  {fit.direction}: {{gemodel: {_gemodel(fit.loss)}}}"] if fit.loss.params is not None else []


def _trace_csv(fit: DirectionFit, window_s: float) -> str:
    rows = ["t_ms,delay_us"]
    window_ms = round(window_s * 1000)
    rows += [f"{index * window_ms},{round(delay * 1000)}" for index, delay in enumerate(fit.delays_ms)]
    return "\n".join(rows) + "\n"


def _header(model: Model, raw_name: str) -> list[str]:
    rec = model.recording
    clock = "one-way delays as recorded (shared clock)" if rec.shared_clock else (
        "RTT/2 each way (the clocks were not shared); the RTT's variation is on up")
    label = f" ({rec.label})" if rec.label else ""
    split = "from the echo count" if rec.split else "no (every loss counted as up)"
    lines = [f"# Recorded by `python -m netem record` from {raw_name}, run {rec.run_id}{label}: "
             f"{len(rec.probes)} probes over {rec.duration_s:.1f} s,",
             f"# window {model.window_s * 1000:g} ms; {clock}.",
             f"# Testbed base taken off: up {model.base.up_ms:.3f} ms, down {model.base.down_ms:.3f} ms "
             f"({model.base.source}).",
             *([f"# Its variation, which the replay adds again: every window shifted "
                f"{model.shift_ms:+.3f} ms each way (the modelled replay's median RTT is the recording's)."]
               if model.base.rtts_ms else []),
             f"# Loss split by direction: {split}.",
             "# Fit quality (recorded -> fitted):"]
    lines += [f"#   {q.what}: {q.recorded:g} -> {q.fitted:g} {q.unit}" for q in quality(model)]
    for name in DIRECTIONS:
        fit = model.direction(name).loss
        lines.append(f"#   loss model {name}: {fit.model} ({fit.losses} lost of {fit.packets}, "
                     f"{fit.bursts} bursts)")
    return lines


def files(model: Model, stem: str, raw_name: str) -> dict[str, str]:
    """File name (relative to the profile's directory) → text; the profile is `STEM.yaml`."""
    rec = model.recording
    profile = [*_header(model, raw_name),
               f"description: Recorded path ({raw_name}, run {rec.run_id}, {len(rec.probes)} probes, "
               f"{rec.duration_s:.0f} s)", "edge:"]
    out: dict[str, str] = {}
    for name in DIRECTIONS:
        fit = model.direction(name)
        profile += _delay_block(fit, stem)
        out[f"{stem}.{name}.csv"] = _trace_csv(fit, model.window_s)
        if fit.table is not None:
            out[f"{stem}.{name}.dist"] = distribution.render(
                fit.table, f"delay variation {name}, recorded in {raw_name} run {rec.run_id}")
    losses = [line for name in DIRECTIONS for line in _loss_block(model.direction(name))]
    profile += ["core:", *losses] if losses else []
    out[f"{stem}.yaml"] = "\n".join(profile) + "\n"
    return out
