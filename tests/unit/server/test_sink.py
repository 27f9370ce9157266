"""The upload sink's pure rules: methods, size limits (413), slow senders (408), the summary."""

from __future__ import annotations

import json

import pytest

from services.common.http1 import CHUNKED, Data, EndOfMessage, HTTPError, Request, RequestParser
from services.server import sink

LIMITS = sink.SinkLimits(max_bytes=1000, min_rate_bps=800, grace_s=5)


@pytest.mark.parametrize(("method", "declared", "status"), [
    ("POST", 1000, None), ("PUT", 0, None), ("POST", CHUNKED, None), ("POST", 1001, 413),
    ("GET", 0, 405), ("DELETE", 10, 405)])
def test_admit(method: str, declared: int, status: int | None) -> None:
    refusal = sink.admit(method, declared, LIMITS)
    assert (refusal.status if refusal else None) == status
    if status == 405:
        assert refusal is not None and refusal.allow == "POST, PUT"
    if status == 413:
        assert refusal is not None and "1001" in refusal.message and "1000" in refusal.message


def test_a_chunked_body_is_refused_once_it_passes_the_limit() -> None:
    upload = sink.Upload(CHUNKED, LIMITS, now_s=0)
    assert upload.feed(600, 0.1) is None and upload.feed(400, 0.2) is None
    refusal = upload.feed(1, 0.3)
    assert refusal is not None and refusal.status == 413


def test_a_trickle_is_refused_after_the_grace_period() -> None:
    """1 byte every second never hits the idle timeout, but 8 bit/s is below the minimum rate."""
    upload = sink.Upload(10_000, sink.SinkLimits(max_bytes=10_000, min_rate_bps=800), now_s=0)
    for second in range(1, 5):
        upload.feed(1, float(second))
        assert upload.overdue(float(second)) is None  # still in the grace period
    upload.feed(1, 5.0)
    refusal = upload.overdue(5.0)
    assert refusal is not None and refusal.status == 408 and "slower than" in refusal.message


def test_a_fast_sender_is_never_overdue() -> None:
    upload = sink.Upload(1000, LIMITS, now_s=0)
    upload.feed(1000, 1.0)
    assert upload.overdue(6.0) is None


@pytest.mark.parametrize(("target", "is_sink"), [
    ("/_server/sink", True), ("/_server/sink?x=1", True), ("http://s/_server/sink", True),
    ("/_server/sinkhole", False), ("/a/_server/sink", False), ("/_server/%73ink", False),
    ("/small.html", False), ("http://[::1/_server/sink", False)])
def test_is_sink(target: str, is_sink: bool) -> None:
    assert sink.is_sink(target) is is_sink


def test_summary() -> None:
    upload = sink.Upload(1000, LIMITS, now_s=10)
    upload.feed(1000, 12)
    assert json.loads(upload.summary(12.0)) == {"bytes": 1000, "seconds": 2.0, "bits_per_second": 4000.0}


@pytest.mark.parametrize("fields", ["Content-Length: 12x", "Content-Length: -1", "Content-Length: 1,2",
                                    "Content-Length:  ", "Content-Length: 3\r\nContent-Length: 4"])
def test_a_bad_content_length_never_reaches_the_sink(fields: str) -> None:
    """The shared parser answers a malformed or conflicting Content-Length with 400 before the sink sees
    the head."""
    parser = RequestParser()
    parser.feed(f"POST /_server/sink HTTP/1.1\r\nHost: s\r\n{fields}\r\n\r\n".encode())
    with pytest.raises(HTTPError) as info:
        parser.next_event()
    assert info.value.status_code == 400


def test_a_body_arrives_as_data_events_the_sink_counts() -> None:
    parser = RequestParser()
    parser.feed(b"POST /_server/sink HTTP/1.1\r\nHost: s\r\nContent-Length: 5\r\n\r\nhel")
    assert isinstance(parser.next_event(), Request)
    upload = sink.Upload(5, LIMITS, 0.0)
    event = parser.next_event()
    assert isinstance(event, Data)
    upload.feed(len(event.data), 0.1)
    parser.feed(b"lo")
    event = parser.next_event()
    assert isinstance(event, Data)
    upload.feed(len(event.data), 0.2)
    assert isinstance(parser.next_event(), EndOfMessage) and upload.received == 5
