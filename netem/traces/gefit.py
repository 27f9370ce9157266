"""Gilbert-Elliott loss from a recorded loss sequence: netem's `loss gemodel p r 1-h 1-k`.

The model (as netem runs it, per packet): a Good and a Bad state; a packet is lost with probability
1-k in Good and 1-h in Bad, then the state moves Good→Bad with probability p, Bad→Good with r.

Fitting, from the run lengths of losses and receptions:
1. The simple Gilbert model (1-h = 100 %, 1-k = 0 %: every loss is in Bad, every reception in Good) is a
   Markov chain on the observations, so its maximum-likelihood p and r are transition frequencies:
   p = P(loss | received before), r = P(received | lost before). It reproduces the loss rate p/(p+r)
   and the mean burst length 1/r of the recording exactly. Independent loss is its special case p + r = 1.
2. The full model (isolated losses in Good, receptions inside bursts) is fitted by maximum likelihood
   over the run-length encoded sequence (a 2×2 matrix power per run, Nelder-Mead on the logits), from
   the simple fit as the start. It is kept only when it explains the sequence better by more than the
   Bayesian information criterion charges for its two extra parameters.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Matrix = tuple[float, float, float, float]  # row-major 2×2: (Good→Good, Good→Bad, Bad→Good, Bad→Bad)
EPS = 1e-6


@dataclass(frozen=True)
class GeParams:
    """Probabilities 0..1 (netem takes them as percentages)."""

    p: float
    r: float
    one_minus_h: float = 1.0
    one_minus_k: float = 0.0

    def loss_rate(self) -> float:
        if self.p + self.r == 0:
            return self.one_minus_k
        bad = self.p / (self.p + self.r)
        return bad * self.one_minus_h + (1 - bad) * self.one_minus_k

    def mean_burst(self) -> float:
        """Expected length of a run of consecutive losses: P(loss) / P(received, then lost)."""
        if self.p + self.r == 0:
            return math.inf
        bad = self.p / (self.p + self.r)
        good = 1 - bad
        eg, eb = self.one_minus_k, self.one_minus_h
        start = (good * (1 - eg) * ((1 - self.p) * eg + self.p * eb)
                 + bad * (1 - eb) * (self.r * eg + (1 - self.r) * eb))
        return self.loss_rate() / start if start > 0 else math.inf


@dataclass(frozen=True)
class GeFit:
    params: GeParams | None  # None: nothing was lost
    model: str  # none | gilbert | gilbert-elliott
    packets: int
    losses: int
    bursts: int
    loglik: float

    @property
    def loss_rate(self) -> float:
        return self.losses / self.packets if self.packets else 0.0

    @property
    def mean_burst(self) -> float:
        return self.losses / self.bursts if self.bursts else 0.0


def runs(lost: Sequence[bool]) -> list[tuple[bool, int]]:
    """Run-length encoding: [(lost?, length), …]."""
    encoded: list[tuple[bool, int]] = []
    for value in lost:
        if encoded and encoded[-1][0] == value:
            encoded[-1] = (value, encoded[-1][1] + 1)
        else:
            encoded.append((bool(value), 1))
    return encoded


def _transitions(lost: Sequence[bool]) -> tuple[int, int, int, int]:
    """(received→received, received→lost, lost→received, lost→lost) counts."""
    counts = [0, 0, 0, 0]
    for before, after in itertools.pairwise(lost):
        counts[2 * before + after] += 1
    return counts[0], counts[1], counts[2], counts[3]


def gilbert(lost: Sequence[bool]) -> GeParams:
    """The simple Gilbert model's maximum-likelihood p and r (see the module doc).

    A burst that runs into the end of the recording has no observed end: when no burst ended, r is one
    over the observed burst length (0 when nothing at all came through)."""
    n00, n01, n10, n11 = _transitions(lost)
    pieces = runs(lost)
    p = n01 / (n01 + n00) if n01 + n00 else 1.0
    if n10:
        r = n10 / (n10 + n11)
    elif all(lost):
        r = 0.0  # nothing ever came through
    else:
        lengths = [length for value, length in pieces if value]
        r = 1 / max(lengths) if lengths else 1.0
    return GeParams(p, r)


def _mul(a: Matrix, b: Matrix) -> Matrix:
    return (a[0] * b[0] + a[1] * b[2], a[0] * b[1] + a[1] * b[3],
            a[2] * b[0] + a[3] * b[2], a[2] * b[1] + a[3] * b[3])


def _power(m: Matrix, n: int) -> Matrix:
    result: Matrix = (1.0, 0.0, 0.0, 1.0)
    while n:
        if n & 1:
            result = _mul(result, m)
        m = _mul(m, m)
        n >>= 1
    return result


def _powers(m: Matrix, counts: set[int]) -> dict[int, Matrix]:
    """m**n for every n in `counts`: each from the next smaller one times the power of the gap, so a
    recording's few hundred run lengths cost about one product each instead of a fresh power each."""
    out: dict[int, Matrix] = {}
    gaps: dict[int, Matrix] = {1: m}  # most gaps are short and repeat
    previous, power = 0, (1.0, 0.0, 0.0, 1.0)
    for n in sorted(counts):
        step = gaps.get(n - previous)
        if step is None:
            step = gaps[n - previous] = _power(m, n - previous)
        power = _mul(power, step)
        out[n], previous = power, n
    return out


def _run_lengths(encoded: Sequence[tuple[bool, int]]) -> dict[bool, set[int]]:
    """The step counts `loglik` takes a matrix power for, per value (the first run has one step less)."""
    counts: dict[bool, set[int]] = {True: set(), False: set()}
    for value, length in encoded[1:]:
        counts[value].add(length)
    first_value, first_length = encoded[0]
    if first_length > 1:
        counts[first_value].add(first_length - 1)
    return counts


def loglik(params: GeParams, encoded: Sequence[tuple[bool, int]],
           counts: dict[bool, set[int]] | None = None) -> float:
    """Log-likelihood of a run-length encoded sequence; the first packet sees the stationary state.

    The forward algorithm, one 2×2 step per run (the step matrix to the run's length); the scale factors
    are multiplied and their log taken only before the product could underflow. `counts`: the
    sequence's `_run_lengths`, when a fit evaluates the same sequence many times."""
    p, r = params.p, params.r
    lose = (params.one_minus_k, params.one_minus_h)
    keep = (1 - lose[0], 1 - lose[1])
    total = p + r
    bad = p / total if total else 0.0
    eg, eb = lose if encoded[0][0] else keep
    a0, a1 = (1 - bad) * eg, bad * eb
    if counts is None:
        counts = _run_lengths(encoded)
    lost_powers, kept_powers = (
        _powers(((1 - p) * e[0], p * e[1], r * e[0], (1 - r) * e[1]), counts[v])
        for v, e in ((True, lose), (False, keep)))
    log = math.log
    log_total, product = 0.0, 1.0
    for index, (value, length) in enumerate(encoded):
        count = length - 1 if index == 0 else length
        if count:
            m = (lost_powers if value else kept_powers)[count]
            a0, a1 = a0 * m[0] + a1 * m[2], a0 * m[1] + a1 * m[3]
        scale = a0 + a1
        if scale <= 0:
            return -math.inf
        a0, a1 = a0 / scale, a1 / scale
        if scale < 1e-100:  # each scale is at most 1 (stochastic steps times probabilities)
            log_total += log(scale)
        else:
            product *= scale  # stays above 1e-250: no underflow
            if product < 1e-150:
                log_total += log(product)
                product = 1.0
    return log_total + log(product)


def _logit(x: float) -> float:
    x = min(max(x, EPS), 1 - EPS)
    return math.log(x / (1 - x))


def _sigmoid(y: float) -> float:
    return 1 / (1 + math.exp(-y)) if y >= 0 else math.exp(y) / (1 + math.exp(y))


def nelder_mead(f: Callable[[list[float]], float], start: list[float], step: float = 0.7,
                iterations: int = 400, tolerance: float = 1e-7) -> list[float]:
    """Minimise `f` from `start` (the classic simplex: reflect, expand, contract, shrink)."""
    simplex = [list(start)] + [[x + (step if i == j else 0.0) for j, x in enumerate(start)]
                               for i in range(len(start))]
    values = [f(point) for point in simplex]
    for _ in range(iterations):
        order = sorted(range(len(simplex)), key=values.__getitem__)
        simplex, values = [simplex[i] for i in order], [values[i] for i in order]
        if abs(values[-1] - values[0]) < tolerance:
            break
        centre = [sum(column) / (len(simplex) - 1) for column in zip(*simplex[:-1], strict=True)]
        worst = simplex[-1]

        def toward(scale: float, worst: list[float] = worst, centre: list[float] = centre) -> list[float]:
            return [c + scale * (w - c) for c, w in zip(centre, worst, strict=True)]

        reflected = toward(-1.0)
        fr = f(reflected)
        if fr < values[0]:
            expanded = toward(-2.0)
            fe = f(expanded)
            simplex[-1], values[-1] = (expanded, fe) if fe < fr else (reflected, fr)
        elif fr < values[-2]:
            simplex[-1], values[-1] = reflected, fr
        else:
            contracted = toward(0.5)
            fc = f(contracted)
            if fc < values[-1]:
                simplex[-1], values[-1] = contracted, fc
            else:
                best = simplex[0]
                simplex = [best] + [[b + 0.5 * (x - b) for b, x in zip(best, point, strict=True)]
                                    for point in simplex[1:]]
                values = [values[0]] + [f(point) for point in simplex[1:]]
    return simplex[min(range(len(simplex)), key=values.__getitem__)]


def _full_fit(encoded: list[tuple[bool, int]], start: GeParams) -> tuple[GeParams, float]:
    def unpack(theta: list[float]) -> GeParams:
        p, r, eb, eg = (_sigmoid(t) for t in theta)
        return GeParams(p, r, eb, eg)

    counts = _run_lengths(encoded)

    def cost(theta: list[float]) -> float:
        params = unpack(theta)
        if params.one_minus_k >= params.one_minus_h:  # Bad is the lossier state, by definition
            return math.inf
        return -loglik(params, encoded, counts)

    theta = nelder_mead(cost, [_logit(start.p), _logit(start.r), _logit(0.9), _logit(0.001)])
    best = unpack(theta)
    return best, loglik(best, encoded, counts)


def fit(lost: Sequence[bool]) -> GeFit:
    """Fit the loss sequence (True = lost), choosing the simple or the full model (see the module doc)."""
    encoded = runs(lost)
    losses = sum(1 for value in lost if value)
    bursts = sum(1 for value, _ in encoded if value)
    if not losses:
        return GeFit(None, "none", len(lost), 0, 0, 0.0)
    simple = gilbert(lost)
    simple_ll = loglik(GeParams(min(max(simple.p, EPS), 1.0), max(simple.r, EPS)), encoded)
    if losses == len(lost) or bursts < 3:
        return GeFit(simple, "gilbert", len(lost), losses, bursts, simple_ll)
    full, full_ll = _full_fit(encoded, simple)
    if 2 * (full_ll - simple_ll) > 2 * math.log(len(lost)):  # BIC: two more parameters
        return GeFit(full, "gilbert-elliott", len(lost), losses, bursts, full_ll)
    return GeFit(simple, "gilbert", len(lost), losses, bursts, simple_ll)
