"""The reference a measured delay is compared with, measured in the same run (pure).

A netem-delayed packet leaves when a kernel timer fires. A busy CPU (or an emulated one whose threads
the host deschedules) fires it late, by an amount that grows with the load and is paid once per delayed
end — so an unimpaired baseline, which has no timer to show it, cannot cancel it. The reference for a
profile delays the same ends by REFERENCE_DELAY_US and nothing else: measured right before and right
after the profile, its timer slack is the profile's, and

    measured(profile) − mean(references)  vs  configured(profile) − configured(reference)

holds within ±max(3 %, 1 ms) plus how far the two references differ (the path's drift and sampling noise
in this run), on a quiet machine and a loaded one alike, while a delay 10 % off still fails.

The reference's delay is 5 ms per end, not less. Under TCG a 1 ms timer fires while the guest is still
busy with the same probe's sending (an emulated Python send takes milliseconds), and that probe pays for
the wait; a profile's 5-300 ms timers fire into an idle guest. So a 1 ms reference carried ~2 ms more RTT
overhead than the profiles it was meant to cancel (VM 10:12, the same session's references: 10 ms RTT for
4 ms configured, 24 ms for 20), and asymmetric's RTT read 1.5-2.2 ms low on a quiet host (the CI of ba4bb8a
failed on 2.21 ms low). With 5 ms the same profiles read within 0.05-0.9 ms, and the references agree
to 0.03-0.5 ms.

A jittered end needs one more step. What the client measures is netem's delay plus the testbed's own
overhead, and the overhead of a busy or emulated CPU has a long upper tail (its mean lies 1-2 ms above its
median under TCG). Added to a constant delay, the overhead's median passes through unchanged; added to a
delay spread by jitter, the median of the sum moves toward the overhead's mean: about +1 ms per jittered end
under TCG, which the subtraction above cannot cancel. So `configured(profile)` is the median of the
profile's delays, jitter drawn as netem draws it, plus the overhead the references measured
(`modelled_median_ms`) — for constant delays exactly the plain difference.

A median measured over a few hundred probes has its own sampling error, which a jittered end makes large
(4g's two jittered ends: 0.4 ms standard error on the RTT median of 500 probes, a quarter of its band). The
band adds it, read from the runs' own samples without assuming their shape (`median_halfwidth_ms`).
Under TCG (VM 09:31) it read 1.6 ms on 4g's RTT and 0.2-0.6 ms on the constant delays, whose spread is the
emulator's own; a profile's delays all 10 % long still fail (docs/vm.md, "The delay band").
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from netem.core.fields import Impairment
from netem.core.profile import Ends
from netem.traces.distribution import DIST_SCALE  # netem: delay = mu + sigma × t / DIST_SCALE
from netem.vm.checks import Check

REFERENCE_DELAY_US = 5000  # long enough that its timers fire into an idle guest, as a profile's do (above)
REL_TOLERANCE = 0.03
MIN_TOLERANCE_MS = 1.0
MODEL_DRAWS = 20_000  # the modelled median's own noise: ~0.01 σ
MEDIAN_Z = 3.0  # the median's sampling interval in standard errors: ~99.7 %, the 3σ of the loss checks
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


def band_ms(configured_ms: float, allowance_ms: float) -> float:
    """The half-width of every delay band here: ±max(3 %, 1 ms) of the configured delay plus what the same
    run's reference allows for (its spread, the untouched pair's shift, the emulator's floor)."""
    return max(REL_TOLERANCE * abs(configured_ms), MIN_TOLERANCE_MS) + allowance_ms


def delay_check(case: str, metric: str, configured_ms: float, measured_ms: float,
                reference: Bracket, sampling_ms: float = 0.0) -> Check:
    """`measured_ms` − the reference's mean vs `configured_ms` (the profile's configured value minus the
    reference's): ±max(3 %, 1 ms) + the reference's spread + the medians' sampling error (`sampling_ms`,
    from `sampling_error_ms`; 0 where the measured value is not a median of samples)."""
    tolerance = band_ms(configured_ms, reference.spread + sampling_ms)
    note = (f"±max({REL_TOLERANCE:.0%}, {MIN_TOLERANCE_MS:g} ms) + {reference.spread:.2f} reference spread "
            + (f"+ {sampling_ms:.2f} medians' sampling " if sampling_ms else "")
            + f"(ref {reference.before:.2f}/{reference.after:.2f})")
    return Check(case, metric, configured_ms, measured_ms - reference.value, tolerance, "ms", note)


def median_halfwidth_ms(samples: Sequence[float], z: float = MEDIAN_Z) -> float:
    """Half the width of a distribution-free interval for the median of `samples`: how many samples fall
    below the true median is binomial(n, ½), so the order statistics at ranks n/2 ± z·√n/2 bracket it with
    the confidence of ±z standard deviations, whatever the samples' shape (z·1.25·σ/√n for normal ones)."""
    ordered = sorted(samples)
    n = len(ordered)
    if n < 2:
        return 0.0
    reach = z * math.sqrt(n) / 2
    low = ordered[max(0, math.floor(n / 2 - reach))]
    high = ordered[min(n - 1, math.ceil(n / 2 + reach))]
    return (high - low) / 2


def sampling_error_ms(run: Sequence[float], before: Sequence[float], after: Sequence[float],
                      z: float = MEDIAN_Z) -> float:
    """The sampling error of a run's median less the mean of its two references' medians: the three
    intervals' half-widths added as independent errors (the references' halved, as their mean is)."""
    return math.sqrt(median_halfwidth_ms(run, z) ** 2
                     + (median_halfwidth_ms(before, z) ** 2 + median_halfwidth_ms(after, z) ** 2) / 4)


def shift_check(case: str, metric: str, configured_ms: float, shift_ms: float,
                other_shift_ms: float) -> Check:
    """A delay added mid-run to one pair, read as its RTT shift (after − before) less the shift of a pair
    left alone in the same run: what both saw (load, drift) cancels, and how far the untouched pair moved is
    the band's allowance for it: ±max(3 %, 1 ms) + |other shift|."""
    tolerance = band_ms(configured_ms, abs(other_shift_ms))
    note = (f"±max({REL_TOLERANCE:.0%}, {MIN_TOLERANCE_MS:g} ms) + {abs(other_shift_ms):.2f} the other "
            f"pair's shift (shift {shift_ms:+.2f}, other {other_shift_ms:+.2f})")
    return Check(case, metric, configured_ms, shift_ms - other_shift_ms, tolerance, "ms", note)


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
