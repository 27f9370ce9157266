"""The reference a measured delay is compared with, measured in the same run (pure).

A netem-delayed packet leaves when a kernel timer fires. A busy CPU (or an emulated one whose threads
the host deschedules) fires it late, by an amount that grows with the load and is paid once per delayed
end — so an unimpaired baseline, which has no timer to show it, cannot cancel it. The reference for a
profile delays the same ends by REFERENCE_DELAY_US and nothing else: measured right before and right
after the profile, its timer slack is the profile's, and

    measured(profile) − mean(references)  vs  configured(profile) − configured(reference)

holds within ±max(3 %, 1 ms) plus how far the two references differ (the path's drift and sampling noise
in this run), on a quiet machine and a loaded one alike, while a delay 10 % off still fails.

A jittered end needs one more step. What the client measures is netem's delay plus the testbed's own
overhead, and the overhead of a busy or emulated CPU has a long upper tail (its mean lies 1-2 ms above its
median under TCG). Added to a constant delay, the overhead's median passes through unchanged; added to a
delay spread by jitter, the median of the sum moves toward the overhead's mean: about +1 ms per jittered end
under TCG, which the subtraction above cannot cancel. So `configured(profile)` is the median of the
profile's delays, jitter drawn as netem draws it, plus the overhead the references measured
(`modelled_median_ms`) — for constant delays exactly the plain difference.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from netem.core.fields import Impairment
from netem.core.profile import Ends
from netem.traces.distribution import DIST_SCALE  # netem: delay = mu + sigma × t / DIST_SCALE
from netem.vm.checks import Check

REFERENCE_DELAY_US = 1000
REL_TOLERANCE = 0.03
MIN_TOLERANCE_MS = 1.0
MODEL_DRAWS = 20_000  # the modelled median's own noise: ~0.01 σ
JitterTables = Mapping[str, Sequence[int]]  # distribution name → its table (iproute2's .dist values)


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


def jitter_ms(imp: Impairment, rng: random.Random, tables: JitterTables) -> float:
    """One draw of the variation netem adds to `imp`'s delay (ms): uniform in ±jitter without a
    distribution (netem's default), a normal draw for `normal` when no table is given, else jitter × t /
    8192 with t drawn from the distribution's table."""
    sigma = (imp.jitter_us or 0) / 1000.0
    if not sigma:
        return 0.0
    name = imp.distribution
    if name is None:
        return rng.uniform(-sigma, sigma)
    table = tables.get(name)
    if table:
        return sigma * rng.choice(table) / DIST_SCALE
    if name == "normal":
        return rng.gauss(0.0, sigma)
    raise ValueError(f"no table for jitter distribution {name!r}: pass its .dist values "
                     "(iproute2's lib dir, or the file beside the profile)")


def modelled_median_ms(ends: Sequence[Impairment], overhead_ms: Sequence[float],
                       tables: JitterTables | None = None, draws: int = MODEL_DRAWS, seed: int = 1) -> float:
    """The median the client should measure across `ends` in a row: each end's delay and a draw of its
    jitter (a packet is not sent before it arrives: a negative draw leaves at once), plus a draw of the
    testbed's own overhead (a reference run's samples less its configured delay; none: no overhead)."""
    if not any(imp.jitter_us for imp in ends):  # a constant delay: the overhead's median passes through
        base = sum((imp.delay_us or 0) for imp in ends) / 1000.0
        return base + (statistics.median(overhead_ms) if overhead_ms else 0.0)
    rng = random.Random(seed)
    found = tables or {}
    sums = []
    for _ in range(draws):
        total = sum(max(0.0, (imp.delay_us or 0) / 1000.0 + jitter_ms(imp, rng, found)) for imp in ends)
        sums.append(total + (rng.choice(overhead_ms) if overhead_ms else 0.0))
    return statistics.median(sums)
