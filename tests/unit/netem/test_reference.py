"""The reference a delay is measured against (netem/reference.py): which ends, what band."""

from __future__ import annotations

import pytest
import yaml

from netem.core.expect import expected
from netem.core.profile import load_profile, parse_profile
from netem.vm.reference import Bracket, delay_check, ends_key, reference_ends, reference_profile


def test_the_reference_delays_exactly_the_ends_the_profile_delays_by_1_ms() -> None:
    four_g = load_profile("4g").ends  # edge and core, jitter, loss and rates
    ref = reference_ends(four_g)
    assert set(ref) == {end for end, imp in four_g.items() if imp.delay_us}
    assert all(imp.delay_us == 1000 and imp.set_keys() == ["delay"] for imp in ref.values())
    lossy = load_profile("lossy").ends  # edge only
    assert set(reference_ends(lossy)) == {("edge", "up"), ("edge", "down")}
    assert ends_key(four_g) != ends_key(lossy)
    assert ends_key(four_g) == ends_key(load_profile("satellite").ends)


def test_the_reference_profile_loads_as_a_profile_with_the_same_ends() -> None:
    ends = load_profile("4g").ends
    data = reference_profile(ends, "4g")
    parsed = parse_profile(yaml.safe_load(yaml.safe_dump(data)), "reference.yaml", "reference").ends
    assert parsed == reference_ends(ends)
    assert expected(parsed).rtt_ms == pytest.approx(4.0)  # 1 ms on each of four ends


@pytest.mark.parametrize(("configured", "measured", "before", "after", "ok"), [
    (49.0, 52.0, 2.0, 2.1, True),    # +1 ms timer slack on both: cancels
    (49.0, 55.9, 2.0, 2.1, False),   # +10 % (4.9 ms) on a 49 ms band of ±1.47 + 0.1
    (49.0, 51.4, 1.0, 3.0, True),    # the references moved by 2 ms: the band widens by as much
    (0.0, 2.9, 2.0, 2.0, True),      # the 1 ms floor
    (0.0, 3.1, 2.0, 2.0, False),
])
def test_the_band_is_3_percent_or_1_ms_plus_the_references_spread(configured: float, measured: float,
                                                                  before: float, after: float,
                                                                  ok: bool) -> None:
    check = delay_check("p", "RTT", configured, measured, Bracket(before, after))
    assert check.ok is ok, check
    assert check.tolerance == pytest.approx(max(0.03 * configured, 1.0) + abs(after - before))
    assert check.measured == pytest.approx(measured - (before + after) / 2)
