"""The probe wire format: golden bytes, round trips, and rejection of everything else."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common import probe

GOLDEN = bytes.fromhex(
    "514c5042" "01" "00" "0030" "0000002a" "0000000000000007" "0000000000000064"
    "0000000000000000" "0000000000000000" "00000000")


def test_golden_bytes() -> None:
    assert probe.encode(probe.Probe(test_id=42, seq=7, client_send_ns=100)) == GOLDEN
    assert probe.HEADER_LEN == len(GOLDEN) == 48


def test_padding_to_payload_size() -> None:
    data = probe.encode(probe.Probe(1, 2, 3), size=1200)
    assert len(data) == 1200 and data[48:] == bytes(1152)
    assert len(probe.encode(probe.Probe(1, 2, 3), size=10)) == 48


def test_stamp_reply_sets_flags_and_times_and_keeps_the_rest() -> None:
    request = probe.encode(probe.Probe(9, 5, 1000), size=64)
    reply = probe.stamp_reply(request, recv_ns=2000, send_ns=2100)
    decoded = probe.decode(reply)
    assert decoded == probe.Probe(9, 5, 1000, 2000, 2100, probe.FLAG_REPLY | probe.FLAG_STAMPED)
    assert reply[44:] == request[44:] and len(reply) == len(request)


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "short"), (GOLDEN[:47], "short"), (b"XXXX" + GOLDEN[4:], "magic"),
    (GOLDEN[:4] + b"\x02" + GOLDEN[5:], "version"),
    (GOLDEN[:6] + b"\x00\x10" + GOLDEN[8:], "header_len"),
    (GOLDEN[:6] + b"\x01\x00" + GOLDEN[8:], "header_len")])
def test_decode_rejects_with_reason(data: bytes, reason: str) -> None:
    with pytest.raises(probe.ProbeError) as exc:
        probe.decode(data)
    assert exc.value.reason == reason
    assert not probe.is_probe(data) or reason == "header_len"


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1),
       st.integers(48, 1500))
def test_round_trip(test_id: int, seq: int, sent: int, size: int) -> None:
    packet = probe.Probe(test_id, seq, sent)
    assert probe.decode(probe.encode(packet, size)) == packet


@given(st.binary(max_size=200))
def test_decode_raises_only_probe_error(data: bytes) -> None:
    with contextlib.suppress(probe.ProbeError):
        probe.decode(data)
