"""Cache entries are charged what they really occupy (issue 16 #6), measured here once with tracemalloc.

Entries are built the way the proxy builds them (fields parsed from bytes, stored fields, pre-encoded head),
put in a Store, and the memory that stays allocated per entry is compared with `Entry.size`. Before the
accounting changed a 1 KiB entry cost 2.09× its charge, so `--cache-size` did not bound RSS.

An integration test: it measures the interpreter's real allocations (thousands of entries under
tracemalloc, seconds of CPU), which is no pure check. No socket, no process.
"""

from __future__ import annotations

import gc
import tracemalloc

import pytest

from services.common.http1 import Headers, RequestParser, Response, ResponseParser
from services.proxy import respond
from services.proxy.cache.entry import Entry, make_entry
from services.proxy.store import Store


def entry(i: int, extra_fields: int, body_size: int, vary: bool) -> Entry:
    fields = b"".join(b"X-Field-%d: some-value-%d-%d\r\n" % (k, k, i) for k in range(extra_fields))
    raw = (b"HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
           b"Content-Type: text/html\r\nETag: \"%d\"\r\n%s%s\r\n" % (i, fields, b"Vary: Accept-Encoding\r\n"
                                                                    if vary else b""))
    parser = ResponseParser()
    parser.feed(raw)
    resp = parser.next_event()
    assert isinstance(resp, Response)
    req_parser = RequestParser()
    req_parser.feed(b"GET /p%d HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n" % i)
    req = req_parser.next_event()
    stored = Headers(list(resp.headers.items()))
    stored.add("Via", respond.VIA)
    made = make_entry(f"/p{i}", 200, "OK", stored, bytes(b"b" * body_size), req.headers,  # type: ignore[union-attr]
                      0.0, 0.0, resp.headers)
    made.head = respond.entry_head(made)
    return made


@pytest.mark.parametrize(("extra_fields", "body_size", "vary"),
                         [(0, 1024, False), (0, 10, False), (8, 1024, True), (20, 200, False),
                          (2, 65536, False)])
def test_charged_size_is_the_real_memory_within_25_percent(extra_fields: int, body_size: int,
                                                             vary: bool) -> None:
    count = 300
    store = Store(max_bytes=1 << 40, max_object_bytes=1 << 30)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(count):
            store.put(entry(i, extra_fields, body_size, vary))
        gc.collect()
        real = (tracemalloc.get_traced_memory()[0] - before) / count
    finally:
        tracemalloc.stop()
    charged = store.used_bytes / count
    assert 0.8 * real <= charged <= 1.25 * real, (real, charged)


def test_a_full_store_holds_no_more_memory_than_its_bound() -> None:
    bound = 2 * 1024 * 1024
    store = Store(max_bytes=bound, max_object_bytes=bound)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(3000):  # 1 KiB bodies: about twice what fits
            store.put(entry(i, 3, 1024, False))
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert store.evictions > 0 and grown <= 1.25 * bound, grown
