"""The empirical delay table: netem's arithmetic gives back the recorded quantiles; the file round-trips."""

from __future__ import annotations

import random

import pytest

from netem.traces.distribution import DIST_SCALE, TABLE_SIZE, from_samples, parse, render
from netem.traces.errors import TraceError


def test_the_table_reproduces_the_samples_quantiles() -> None:
    rng = random.Random(1)
    samples = [rng.expovariate(1 / 2000) - 2000 for _ in range(20_000)]  # skewed, µs
    table = from_samples(samples)
    assert table is not None and len(table.values) == TABLE_SIZE
    replayed = sorted(table.sample_us(i) for i in range(TABLE_SIZE))
    ordered = sorted(samples)
    for q in (0.1, 0.5, 0.9, 0.99):
        assert replayed[int(q * TABLE_SIZE)] == pytest.approx(ordered[int(q * len(ordered))], abs=60)


def test_a_far_outlier_widens_sigma_instead_of_being_clipped() -> None:
    samples = [0.0] * 999 + [50_000.0] + [-100.0, 100.0]
    table = from_samples(samples)
    assert table is not None
    assert max(table.values) <= 32767
    assert table.sigma_us * 32767 / DIST_SCALE >= 50_000
    assert max(table.sample_us(i) for i in range(TABLE_SIZE)) > 40_000  # ±4 sigma would stop at ~6.4 ms


def test_no_variation_no_table() -> None:
    assert from_samples([0.0, 0.0]) is None
    assert from_samples([1.0]) is None


def test_file_round_trip_in_maketable_format() -> None:
    table = from_samples([float(x) for x in range(-500, 500)])
    assert table is not None
    text = render(table, "recorded up")
    assert text.startswith("# This is the distribution table for the experimental distribution.\n")
    assert all(len(line.split()) == 8 for line in text.splitlines() if not line.startswith("#"))
    assert parse(text, "t.dist") == table.values


@pytest.mark.parametrize(("text", "where"), [("# x\n1 2 z\n", "t.dist:2"), ("40000\n", "t.dist:1"),
                                             ("# only\n", "t.dist")])
def test_bad_tables_name_the_line(text: str, where: str) -> None:
    with pytest.raises(TraceError) as info:
        parse(text, "t.dist")
    assert str(info.value).startswith(where + ":")
