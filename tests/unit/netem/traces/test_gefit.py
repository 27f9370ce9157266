"""The Gilbert-Elliott fit recovers known parameters from synthetic loss sequences."""

from __future__ import annotations

import math

import pytest

from netem.traces.gefit import GeParams, fit, gilbert, loglik, nelder_mead, runs
from tests.unit.netem.traces.ge_sim import simulate


def close(value: float, expected: float, rel: float) -> bool:
    return abs(value - expected) <= rel * expected


@pytest.mark.parametrize(("p", "r", "seed"), [(0.02, 0.3, 1), (0.01, 0.5, 2), (0.05, 0.6, 3)])
def test_simple_gilbert_parameters_are_recovered(p: float, r: float, seed: int) -> None:
    result = fit(simulate(GeParams(p, r), 30_000, seed))
    assert result.model == "gilbert"
    assert result.params is not None
    assert close(result.params.p, p, 0.12) and close(result.params.r, r, 0.12), result.params
    assert (result.params.one_minus_h, result.params.one_minus_k) == (1.0, 0.0)


def test_the_simple_fit_reproduces_loss_rate_and_burst_length_exactly() -> None:
    lost = simulate(GeParams(0.03, 0.4), 10_000, 4)
    result = fit(lost)
    assert result.params is not None
    assert result.params.loss_rate() == pytest.approx(result.loss_rate, rel=1e-3)
    assert result.params.mean_burst() == pytest.approx(result.mean_burst, rel=1e-9)


def test_independent_loss_comes_out_as_p_plus_r_near_one() -> None:
    # 6000 packets, ~180 lost: p + r has σ ≈ 0.013, the band is ~4σ (over 12 seeds at most 0.56 of it)
    result = fit(simulate(GeParams(0.03, 0.97), 6_000, 5))
    assert result.params is not None and result.model == "gilbert"
    assert result.params.p + result.params.r == pytest.approx(1.0, abs=0.05)


# The sizes keep every band above the spread of 12 other seeds (at most 0.8 of a band for the second
# truth at 30 000 packets; the first needs 60 000: its loss rate spread reaches the 8 % band).
@pytest.mark.parametrize(("truth", "seed", "n"), [(GeParams(0.01, 0.25, 0.7, 0.002), 6, 60_000),
                                                  (GeParams(0.05, 0.4, 0.8, 0.01), 7, 30_000)])
def test_full_gilbert_elliott_parameters_are_recovered(truth: GeParams, seed: int, n: int) -> None:
    result = fit(simulate(truth, n, seed))
    assert result.model == "gilbert-elliott"
    got = result.params
    assert got is not None
    assert close(got.p, truth.p, 0.25) and close(got.r, truth.r, 0.25), got
    assert close(got.one_minus_h, truth.one_minus_h, 0.1), got
    assert close(got.one_minus_k, truth.one_minus_k, 0.6), got
    assert close(got.loss_rate(), truth.loss_rate(), 0.08)
    assert close(got.mean_burst(), truth.mean_burst(), 0.1)


def test_no_loss_all_loss_and_a_burst_at_the_end() -> None:
    assert fit([False] * 100).model == "none"
    everything = fit([True] * 50)
    assert everything.params is not None and everything.params.loss_rate() == pytest.approx(1.0)
    tail = gilbert([False] * 97 + [True] * 3)  # the burst never ended: r from its observed length
    assert tail.r == pytest.approx(1 / 3) and tail.p == pytest.approx(1 / 97)


def packet_by_packet(params: GeParams, lost: list[bool]) -> float:
    """The forward algorithm one packet at a time, normalised at every packet (no underflow)."""
    bad = params.p / (params.p + params.r)
    alpha = [(1 - bad), bad]
    total = 0.0
    for index, value in enumerate(lost):
        if index:
            alpha = [alpha[0] * (1 - params.p) + alpha[1] * params.r,
                     alpha[0] * params.p + alpha[1] * (1 - params.r)]
        lose = (params.one_minus_k, params.one_minus_h)
        emit = lose if value else (1 - lose[0], 1 - lose[1])
        alpha = [alpha[0] * emit[0], alpha[1] * emit[1]]
        scale = sum(alpha)
        total += math.log(scale)
        alpha = [a / scale for a in alpha]
    return total


# 300 packets: one short recording; 6000 packets with long bursts, under parameters that make its long
# runs very unlikely: the run-length product passes 1e-150 many times and single runs fall below 1e-100.
@pytest.mark.parametrize(("truth", "n", "params"), [
    (GeParams(0.1, 0.5, 0.9, 0.05), 300, GeParams(0.1, 0.5, 0.9, 0.05)),
    (GeParams(0.004, 0.02, 0.7, 0.002), 6000, GeParams(0.4, 0.05, 0.99, 0.3)),
])
def test_run_length_likelihood_equals_the_packet_by_packet_one(truth: GeParams, n: int,
                                                              params: GeParams) -> None:
    lost = simulate(truth, n, 8)
    assert loglik(params, runs(lost)) == pytest.approx(packet_by_packet(params, lost), rel=1e-9)


def test_model_statistics() -> None:
    assert GeParams(0.01, 0.3).loss_rate() == pytest.approx(0.01 / 0.31)
    assert GeParams(0.01, 0.3).mean_burst() == pytest.approx(1 / 0.3)
    assert runs([True, True, False, True]) == [(True, 2), (False, 1), (True, 1)]


def test_nelder_mead_finds_a_minimum() -> None:
    best = nelder_mead(lambda x: (x[0] - 1) ** 2 + 3 * (x[1] + 2) ** 2, [0.0, 0.0])
    assert best == pytest.approx([1.0, -2.0], abs=1e-3)
