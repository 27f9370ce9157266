"""A recording → profile + traces: per-window delays, base subtraction, jitter table, loss per direction."""

from __future__ import annotations

import functools
import random
import statistics

import pytest

from netem.traces import distribution, export, recorder
from netem.traces.errors import TraceError
from netem.traces.gefit import GeParams
from netem.traces.load import schedule_from_text
from netem.traces.recording import Recording, read_recording
from tests.unit.netem.traces.raw_sim import raw_rows, wave

UP, DOWN = wave(40, 15, 8.0), wave(25, 5, 4.0)


def recording(**kwargs: object) -> list[dict[str, str]]:
    args: dict[str, object] = {"n": 4000, "interval_s": 0.01, "up_ms": UP, "down_ms": DOWN, "jitter_ms": 1.5,
                               "loss_up": GeParams(0.02, 0.4), "loss_down": GeParams(0.01, 0.5)}
    args.update(kwargs)
    return raw_rows(**args)  # type: ignore[arg-type]


@functools.cache  # immutable (a frozen Recording of tuples): shared by the tests that read the default one
def default_recording() -> Recording:
    return read_recording(recording(), "raw.csv")


def test_losses_are_split_by_direction_with_the_echo_count() -> None:
    rows = recording()
    rec = read_recording(rows, "raw.csv")
    assert rec.split and rec.shared_clock
    lost = sum(1 for r in rows if r["received"] == "0")
    assert sum(rec.loss_sequence("up")) + sum(rec.loss_sequence("down")) == lost
    assert len(rec.loss_sequence("down")) == len(rows) - sum(rec.loss_sequence("up"))
    received_by_echo = max(int(r["server_count"]) for r in rows if r["server_count"])
    assert len(rec.loss_sequence("down")) >= received_by_echo


def test_split_of_a_gap_follows_the_count() -> None:
    rows = [{"run_id": "x", "seq": str(i), "send_offset_s": str(i / 100), "received": "1" if rtt else "0",
             "rtt_ms": rtt, "server_count": count, "owd_clock": "shared", "owd_up_ms": rtt and "1",
             "owd_down_ms": rtt and "1"}
            for i, (rtt, count) in enumerate([("2", "1"), ("", ""), ("", ""), ("", ""), ("2", "3"),
                                              ("", "")])]
    rec = read_recording(rows, "raw.csv")
    assert [p.lost_up for p in rec.probes] == [False, True, True, False, False, True]
    assert [p.lost_down for p in rec.probes] == [False, False, False, True, False, False]


def test_model_follows_the_windows_and_takes_the_base_off() -> None:
    rec = default_recording()
    model = recorder.build(rec, 0.1, recorder.Base(2.0, 1.0, "base.csv"))
    assert len(model.up.delays_ms) == 400  # 40 s in 100 ms windows
    for index in (0, 7, 120, 333):
        t = (index + 0.5) * 0.1
        assert model.up.delays_ms[index] == pytest.approx(UP(t) - 2.0, abs=1.6)
        assert model.down.delays_ms[index] == pytest.approx(DOWN(t) - 1.0, abs=1.6)
    assert model.up.table is not None and model.down.table is not None
    spread = sorted(model.up.table.sample_us(i) for i in range(distribution.TABLE_SIZE))
    assert spread[len(spread) // 2] == pytest.approx(0, abs=150)
    sigma = (spread[int(0.84 * len(spread))] - spread[int(0.16 * len(spread))]) / 2
    assert sigma == pytest.approx(1500, rel=0.15)
    assert model.up.loss.params is not None and model.up.loss.params.r == pytest.approx(0.4, rel=0.3)


def test_without_shared_clocks_each_way_is_half_the_rtt_and_the_variation_goes_up() -> None:
    rec = read_recording(recording(shared=False), "raw.csv")
    model = recorder.build(rec, 0.1)
    assert not rec.shared_clock
    assert model.up.delays_ms == model.down.delays_ms
    assert model.up.table is not None and model.down.table is None


def test_exported_files_parse_back_and_the_fit_quality_is_shown() -> None:
    rec = default_recording()
    model = recorder.build(rec, 0.1, recorder.Base(2.0, 1.0, "base.csv"))
    files = export.files(model, "lte", "raw.csv")
    assert sorted(files) == ["lte.down.csv", "lte.down.dist", "lte.up.csv", "lte.up.dist", "lte.yaml"]
    schedule = schedule_from_text(files["lte.up.csv"], "lte.up.csv")
    assert schedule.values_at(0.75)["delay_us"] == round(model.up.delays_ms[7] * 1000)
    assert distribution.parse(files["lte.up.dist"], "lte.up.dist") == model.up.table.values  # type: ignore[union-attr]
    profile = files["lte.yaml"]
    assert "trace: {file: lte.up.csv, loop: true}" in profile and "distribution: lte.down.dist" in profile
    assert "core:\n  up: {gemodel: {p: " in profile  # loss on core: edge changes would restart the chain
    assert "# Testbed base taken off: up 2.000 ms, down 1.000 ms (base.csv)" in profile
    quality = {q.what: q for q in export.quality(model)}
    assert quality["loss up"].fitted == pytest.approx(quality["loss up"].recorded, rel=0.02)
    assert quality["mean loss burst down"].fitted == pytest.approx(quality["mean loss burst down"].recorded,
                                                                    rel=0.02)
    assert quality["RTT p50"].fitted == pytest.approx(quality["RTT p50"].recorded, rel=0.03)
    assert quality["RTT p99"].fitted == pytest.approx(quality["RTT p99"].recorded, rel=0.05)


def test_measure_base_is_the_median_each_way() -> None:
    base = recorder.measure_base(read_recording(recording(up_ms=lambda t: 0.4, down_ms=lambda t: 0.3,
                                                          jitter_ms=0.01, loss_up=None, loss_down=None), "b"))
    assert (base.up_ms, base.down_ms) == pytest.approx((0.4, 0.3), abs=0.01)


def skewed(rng: random.Random) -> float:
    """A busy host's processing delay: never negative, a long tail (mean 2 ms, median 1.4 ms)."""
    return rng.expovariate(0.5)


def test_the_base_variation_a_replay_adds_again_is_calibrated_out() -> None:
    """A replay measures each window's delay, a table draw each way, and the testbed's own variation once
    more (simulated here independently of the model): with the base's RTTs the windows are shifted so its
    median is the recording's; with the base's medians only it comes out high."""
    quiet = {"loss_up": None, "loss_down": None, "noise": skewed}
    rec = read_recording(recording(up_ms=lambda t: 40.0, down_ms=lambda t: 25.0, **quiet), "raw.csv")
    base = recorder.measure_base(read_recording(recording(up_ms=lambda t: 0.4, down_ms=lambda t: 0.3,
                                                          jitter_ms=0.0, seed=7, **quiet), "base.csv"))

    def replayed_median(model: recorder.Model) -> float:
        rng = random.Random(99)
        out = []
        for probe in rec.probes:
            w = min(int(probe.send_s // model.window_s), len(model.up.delays_ms) - 1)
            total = 0.7 + skewed(rng) + skewed(rng)
            for fit in (model.up, model.down):
                assert fit.table is not None
                total += fit.delays_ms[w] + fit.table.sample_us(rng.randrange(distribution.TABLE_SIZE)) / 1000
            out.append(total)
        return statistics.median(out)

    recorded = statistics.median(rec.rtts_ms())
    calibrated = recorder.build(rec, 0.1, base)
    medians_only = recorder.build(rec, 0.1, recorder.Base(base.up_ms, base.down_ms, "medians"))
    assert calibrated.shift_ms < -0.3 and medians_only.shift_ms == 0.0
    assert replayed_median(calibrated) == pytest.approx(recorded, abs=0.25)
    assert replayed_median(medians_only) - recorded > 0.6
    quality = {q.what: q for q in export.quality(calibrated)}
    assert quality["RTT p50"].fitted == pytest.approx(quality["RTT p50"].recorded, abs=0.05)
    assert "every window shifted -" in export.files(calibrated, "x", "raw.csv")["x.yaml"]


@pytest.mark.parametrize(("rows", "words"), [
    ([], "a raw recording with a probe in it"),
    ([{"seq": "0"}], "a raw QoS file with columns run_id"),
    ([{"run_id": "a", "seq": "0", "send_offset_s": "0", "received": "1", "rtt_ms": "x"}],
     "raw.csv:2: rtt_ms"),
])
def test_bad_recordings(rows: list[dict[str, str]], words: str) -> None:
    with pytest.raises(TraceError, match=words):
        read_recording(rows, "raw.csv")


def test_a_file_with_several_runs_needs_one_picked() -> None:
    rows = recording(n=50) + recording(n=50, run_id="r2")
    with pytest.raises(TraceError, match="pick one with --run"):
        read_recording(rows, "raw.csv")
    assert read_recording(rows, "raw.csv", run_id="r2").run_id == "r2"
