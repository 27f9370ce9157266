"""The bufferbloat grade: boundaries exactly where the DSLReports/Waveform scale puts them."""

from __future__ import annotations

import math

import pytest

from services.client.responsiveness import grade


@pytest.mark.parametrize(("increase", "expected"), [
    (-3.0, "A+"), (0.0, "A+"), (4.99, "A+"), (5.0, "A"), (29.9, "A"), (30.0, "B"), (59.9, "B"),
    (60.0, "C"), (199.9, "C"), (200.0, "D"), (399.9, "D"), (400.0, "F"), (2500.0, "F")])
def test_boundaries(increase: float, expected: str) -> None:
    assert grade.grade(increase) == expected


def test_unknown_increase_has_no_grade() -> None:
    assert grade.grade(math.nan) == ""
    mean, letter = grade.overall([])
    assert math.isnan(mean) and letter == ""


def test_overall_is_the_grade_of_the_mean_of_down_and_up_bloat() -> None:
    mean, letter = grade.overall([10.0, 390.0])  # A down, D up → mean 200 → D
    assert mean == 200.0 and letter == "D"
    assert grade.overall([math.nan, 3.0]) == (3.0, "A+")


def test_increase_is_loaded_minus_idle_median() -> None:
    assert grade.increase_ms(252.5, 12.5) == 240.0
    assert grade.increase_ms(11.0, 12.0) == -1.0  # noise stays visible; it grades A+
    assert math.isnan(grade.increase_ms(math.nan, 1.0))
