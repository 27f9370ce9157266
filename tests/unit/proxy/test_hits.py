"""The fast path's memo of rendered heads (`services/proxy/hits.py`) answers at every instant exactly what
`decide` and `respond.served_head` answer then: across the second the Age field changes, and never past
the instant the entry turns stale (injected times, no sleeping)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.connection.heads import CLOSE
from services.common.http1 import Headers, http_date
from services.proxy import respond
from services.proxy.cache.directives import parse_cache_control
from services.proxy.cache.entry import Entry, make_entry
from services.proxy.cache.policy import NO_DIRECTIVES, Action, decide, hit_through
from services.proxy.hits import plain_hit

T0 = 1_700_000_000.0


def before(t: float) -> float:
    """The last representable instant before `t`."""
    return math.nextafter(t, -math.inf)


def stored(*fields: tuple[str, str], received: float = T0, date: float = T0) -> Entry:
    """An entry whose response carried `Date: date` and arrived at `received` (so its initial age is
    `received - date` when that is positive), with its head pre-rendered as the proxy stores it."""
    entry = make_entry("/k", 200, "OK", Headers([("Date", http_date(date)), *fields]), b"body", Headers(),
                       received, received)
    entry.head = respond.entry_head(entry)
    return entry


def full_path(entry: Entry, now: float, close: bool) -> bytes | None:
    """What the full path serves a plain GET at `now`: `served_head` when `decide` says HIT, else nothing."""
    if decide(entry, NO_DIRECTIVES, now).action is not Action.HIT:
        return None
    return respond.served_head(entry, now, "HIT", CLOSE if close else b"")


def age_of(head: bytes | None) -> int | None:
    if head is None:
        return None
    return int(head.split(b"\r\nAge: ", 1)[1].split(b"\r\n", 1)[0])


# max-age=2, received 0.25 s after its Date: initial age 0.25, the Age field turns 1 at T0+1 and the entry
# is stale from T0+2 (age 2) on. Heuristic freshness (Last-Modified 15 s before Date): lifetime 1.5 s, so it
# turns stale at T0+1.5, inside the second in which Age is 1.
WHOLE = (("Cache-Control", "max-age=2"),)
HEURISTIC = (("Last-Modified", http_date(T0 - 15)),)


@pytest.mark.parametrize(("fields", "received", "instants"), [
    (WHOLE, T0 + 0.25, [(T0 + 0.5, 0), (before(T0 + 1), 0), (T0 + 1, 1), (before(T0 + 2), 1),
                        (T0 + 2, None)]),
    (HEURISTIC, T0, [(T0 + 0.2, 0), (before(T0 + 1), 0), (T0 + 1, 1), (T0 + 1.2, 1), (before(T0 + 1.5), 1),
                     (T0 + 1.5, None), (T0 + 1.7, None)]),
])
def test_memo_follows_age_and_freshness_boundaries(fields: tuple[tuple[str, str], ...], received: float,
                                                   instants: list[tuple[float, int | None]]) -> None:
    entry = stored(*fields, received=received)
    for now, age in instants:
        served = plain_hit(entry, now, False)
        assert served == full_path(entry, now, False), now - T0
        assert age_of(served) == age, now - T0


def test_the_memo_is_reused_within_an_age_second_and_dropped_after() -> None:
    entry = stored(*WHOLE, received=T0 + 0.25)
    first = plain_hit(entry, T0 + 0.5, False)
    assert entry.served is not None and entry.served.until == T0 + 1
    assert plain_hit(entry, before(T0 + 1), False) is first  # the same bytes object: rendered once
    assert plain_hit(entry, T0 + 1, False) is not first
    assert plain_hit(entry, T0 + 0.5, False) == first  # a clock stepped back: rendered again, same bytes


def test_no_memo_outlives_freshness_ending_inside_an_age_second() -> None:
    """Stale at age 1.5: the head rendered at age 1.2 is not kept, so every hit until then asks `decide`."""
    entry = stored(*HEURISTIC)
    assert plain_hit(entry, T0 + 1.2, False) is not None
    assert entry.served is None or entry.served.until <= T0 + 1.2
    assert plain_hit(entry, T0 + 1.5, False) is None


def test_close_and_keep_alive_heads_differ() -> None:
    entry = stored(*WHOLE)
    keep, close = plain_hit(entry, T0 + 0.1, False), plain_hit(entry, T0 + 0.1, True)
    assert keep is not None and close is not None
    assert b"Connection: close\r\n" in close and b"Connection: close" not in keep
    assert plain_hit(entry, T0 + 0.2, False) == keep


def test_no_cache_and_stale_entries_are_never_fast_hits() -> None:
    assert plain_hit(stored(("Cache-Control", "max-age=60, no-cache")), T0 + 1, False) is None
    assert plain_hit(stored(("Cache-Control", "max-age=0")), T0, False) is None


def test_a_capped_age_never_changes() -> None:
    entry = stored(("Cache-Control", "max-age=99999999999"), ("Age", "2147483647"))
    now = T0 + 5
    assert respond.served_age(entry, now) == 2**31
    assert respond.served_age_until(entry, now) == math.inf


@given(received=st.floats(1e9, 2e9), initial=st.floats(0, 1e6), offset=st.floats(-100, 1e6))
def test_age_until_is_the_first_instant_the_age_field_changes(received: float, initial: float,
                                                              offset: float) -> None:
    entry = stored(*WHOLE, received=received)
    entry.initial_age_s = initial
    now = received + offset
    until = respond.served_age_until(entry, now)
    age = respond.served_age(entry, now)
    assert until > now
    assert respond.served_age(entry, before(until)) == age
    assert respond.served_age(entry, until) == age + 1


REQUESTS = st.sampled_from(["", "max-age=0", "max-age=3", "min-fresh=1", "max-stale", "max-stale=2",
                            "no-cache", "max-age=3, min-fresh=1"])
RESPONSES = st.sampled_from(["max-age=0", "max-age=1", "max-age=5", "max-age=5, no-cache", "s-maxage=3",
                             "max-age=5, stale-while-revalidate=10", "max-age=5, must-revalidate"])


@given(response=RESPONSES, request=REQUESTS, initial=st.floats(0, 10), t1=st.floats(-5, 20),
       t2=st.floats(-5, 20))
def test_a_hit_at_an_instant_is_a_hit_at_every_earlier_one(response: str, request: str, initial: float,
                                                           t1: float, t2: float) -> None:
    """What lets `hit_through` answer for a whole interval from one call to `decide` at its end."""
    entry = stored(("Cache-Control", response), received=T0 + 0.5)
    entry.initial_age_s = initial
    req = parse_cache_control([request] if request else [])
    early, late = sorted((T0 + t1, T0 + t2))
    if hit_through(entry, req, late):
        assert decide(entry, req, early).action is Action.HIT


@given(fields=st.sampled_from([WHOLE, HEURISTIC, (("Cache-Control", "max-age=3"),)]),
       received=st.floats(0, 1), steps=st.lists(st.floats(-0.3, 1.2), min_size=1, max_size=30),
       closes=st.integers(0, 2**30 - 1))  # bit i: request i asks to close (one draw, not 30)
def test_memo_answers_what_the_full_path_answers_at_every_instant(
        fields: tuple[tuple[str, str], ...], received: float, steps: list[float], closes: int) -> None:
    entry = stored(*fields, received=T0 + received)
    now = T0
    for index, step in enumerate(steps):
        close = bool(closes >> index & 1)
        now += step  # mostly forward, sometimes a clock stepped back
        assert plain_hit(entry, now, close) == full_path(entry, now, close), now - T0
