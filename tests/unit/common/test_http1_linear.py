"""Head validation costs time linear in the head: pathological heads cost about what a normal head of the
same size costs (issue 16, items 9 and 10: one 117-byte head froze the server for seconds, one 32 KiB
whitespace run cost seconds of CPU).

Each case is timed against a normal head of the same length in the same run (interleaved, best of
several rounds), so a busy machine slows both sides alike; the bound is a ratio, not a time.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.http1 import HTTPError, RequestParser, check_request_head

START = b"GET / HTTP/1.1\r\nHost: t\r\n"
MAX_RATIO = 8.0  # quadratic or exponential heads of these sizes measure in the hundreds to millions


def normal_head(size: int, lines: int = 1) -> bytes:
    """A valid head of exactly `size` bytes: `lines` fields of letters."""
    room = size - len(START) - 2 - lines * 4  # "X:" + CRLF per line
    assert room >= 0
    per_line, extra = divmod(room, lines)
    fields = [b"X:" + b"a" * (per_line + (extra if i == 0 else 0)) + b"\r\n" for i in range(lines)]
    return START + b"".join(fields) + b"\r\n"


def parse_whole(head: bytes) -> None:
    parser = RequestParser()
    parser.feed(head)
    with contextlib.suppress(HTTPError):
        parser.next_event()


def best_of(func: Callable[[bytes], object], head: bytes, rounds: int) -> float:
    """Best wall time of `rounds` calls, with enough calls per round to rise above timer noise."""
    calls = max(1, 20_000 // len(head))
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            func(head)
        best = min(best, time.perf_counter() - started)
    return best


def ratio(func: Callable[[bytes], object], head: bytes, lines: int = 1, rounds: int = 5) -> float:
    normal = normal_head(len(head), lines)
    assert len(normal) == len(head)
    slow = fast = float("inf")
    for _ in range(rounds):  # interleaved, so load spikes hit both
        slow = min(slow, best_of(func, head, 1))
        fast = min(fast, best_of(func, normal, 1))
    return slow / fast


PATHOLOGICAL = {
    "many empty values (117 bytes)": (b"GET / HTTP/1.1\r\n" + b"X:        \r\n" * 8 + b"Y\r\n\r\n", 9),
    "many empty values (99 lines)": (START + b"X: \t  \r\n" * 98 + b"Y\r\n\r\n", 99),
    "empty values then a bad line": (START + b"Expect: \r\n" * 24 + b"Expect \r\n\r\n", 25),
    "32 KiB whitespace run then a CTL": (START + b"X:" + b" " * 32000 + b"\x01\r\n\r\n", 1),
    "32 KiB tabs and spaces then a CTL": (START + b"X: a" + b" \t" * 16000 + b"\x01\r\n\r\n", 1),
    "32 KiB value ending in whitespace": (START + b"X: a" + b" " * 32000 + b"\r\n\r\n", 1),
    "32 KiB request target then junk": (b"GET /" + b"a" * 8000 + b" HTTP/1.1 \r\nHost: t\r\n\r\n", 1),
}


@pytest.mark.parametrize("name", list(PATHOLOGICAL))
@pytest.mark.parametrize("check", [check_request_head, parse_whole], ids=["validator", "parser"])
def test_pathological_heads_cost_about_a_normal_head(name: str, check: Callable[[bytes], object]) -> None:
    head, lines = PATHOLOGICAL[name]
    assert ratio(check, head, lines) < MAX_RATIO


RUNS = [b" ", b"\t", b" \t", b":", b"X:", b"X: ", b"\r\nX:", b"\r\nX: ", b"a", b"a ", b"\xa0", b"\x85"]
ENDS = [b"", b"\x01", b"\x7f", b"\x00", b"Y", b" ", b"\r\nY"]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(RUNS), st.integers(1, 4000)), min_size=1, max_size=4),
       st.sampled_from(ENDS))
def test_fuzzed_heads_are_linear(runs: list[tuple[bytes, int]], end: bytes) -> None:
    """Long runs of the bytes that made the old patterns backtrack, in any order: still a normal cost."""
    body = b"X:" + b"".join(piece * count for piece, count in runs) + end
    head = START + body[:32000] + b"\r\n\r\n"
    lines = head.count(b"\r\n") - 3  # fields after Host
    if lines >= 100:
        return  # 431 before any field is looked at
    fit = (len(head) - len(START) - 2) // 4  # a normal head this short holds fewer lines ("X:" + CRLF each)
    assert ratio(check_request_head, head, max(min(lines, fit), 1), rounds=3) < MAX_RATIO


def feed_in_pieces(head: bytes, piece: int = 8) -> None:
    parser = RequestParser()
    with contextlib.suppress(HTTPError):
        for start in range(0, len(head), piece):
            parser.feed(head[start:start + piece])
            parser.next_event()


@pytest.mark.parametrize("line", [b"X: " + b"a" * 1024 + b"\r\n", b"X:" + b" " * 1024 + b"\r\n"])
def test_a_head_in_small_pieces_is_scanned_once(line: bytes) -> None:
    """A head dripping in 8-byte pieces: 8× the head costs about 8× the time, not 64× (each piece used to
    search the whole buffer again for the end of the head)."""
    small, large = START + line * 3 + b"\r\n", START + line * 24 + b"\r\n"
    slow = fast = float("inf")
    for _ in range(3):
        for head in (small, large):
            started = time.perf_counter()
            feed_in_pieces(head)
            took = time.perf_counter() - started
            if head is large:
                slow = min(slow, took)
            else:
                fast = min(fast, took)
    assert slow / fast < 8 * 2.5
