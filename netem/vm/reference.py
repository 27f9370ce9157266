"""The reference a measured delay is compared with, measured in the same run (pure).

A netem-delayed packet leaves when a kernel timer fires. A busy CPU (or an emulated one whose threads
the host deschedules) fires it late, by an amount that grows with the load and is paid once per delayed
end — so an unimpaired baseline, which has no timer to show it, cannot cancel it. The reference for a
profile delays the same ends by REFERENCE_DELAY_US and nothing else: measured right before and right
after the profile, its timer slack is the profile's, and

    measured(profile) − mean(references)  vs  configured(profile) − configured(reference)

holds within ±max(3 %, 1 ms) plus how far the two references differ (the path's drift and sampling noise
in this run), on a quiet machine and a loaded one alike, while a delay 10 % off still fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from netem.core.fields import Impairment
from netem.core.profile import Ends
from netem.vm.checks import Check

REFERENCE_DELAY_US = 1000
REL_TOLERANCE = 0.03
MIN_TOLERANCE_MS = 1.0


def reference_ends(ends: Ends) -> Ends:
    """REFERENCE_DELAY_US on every end that `ends` delays; nothing else (no jitter, loss or rate)."""
    return {end: Impairment(delay_us=REFERENCE_DELAY_US) for end, imp in ends.items() if imp.delay_us}


def reference_profile(ends: Ends, name: str = "") -> dict[str, Any]:
    """`reference_ends(ends)` as profile YAML data (link → direction → delay), for the controller."""
    data: dict[str, Any] = {"description": f"reference for {name or 'a profile'}: "
                                           f"{REFERENCE_DELAY_US / 1000:g} ms on each of its delayed ends"}
    for (link, direction), imp in sorted(reference_ends(ends).items()):
        data.setdefault(link, {})[direction] = {"delay": f"{imp.delay_us}us"}
    return data


def ends_key(ends: Ends) -> tuple[tuple[str, str], ...]:
    """Which ends a profile delays: profiles with the same key share their references."""
    return tuple(sorted(reference_ends(ends)))


@dataclass(frozen=True)
class Bracket:
    """One measured value of the reference, before and after the profile."""

    before: float
    after: float

    @property
    def value(self) -> float:
        return (self.before + self.after) / 2

    @property
    def spread(self) -> float:
        return abs(self.after - self.before)


def delay_check(case: str, metric: str, configured_ms: float, measured_ms: float,
                reference: Bracket) -> Check:
    """`measured_ms` − the reference's mean vs `configured_ms` (the profile's configured value minus the
    reference's): ±max(3 %, 1 ms) + the reference's spread."""
    tolerance = max(REL_TOLERANCE * abs(configured_ms), MIN_TOLERANCE_MS) + reference.spread
    note = (f"±max({REL_TOLERANCE:.0%}, {MIN_TOLERANCE_MS:g} ms) + {reference.spread:.2f} reference spread "
            f"(ref {reference.before:.2f}/{reference.after:.2f})")
    return Check(case, metric, configured_ms, measured_ms - reference.value, tolerance, "ms", note)
