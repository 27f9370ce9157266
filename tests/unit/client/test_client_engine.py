"""The sender's pacing and the receiver's filtering, with fake clocks and sockets (no network)."""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field

import pytest

from services.client.qos import engine
from services.client.qos.config import QosConfig
from services.client.qos.engine import Collector, send_all
from services.client.qos.records import Recorder
from services.common import probe
from services.common.clock import SYSTEM_CLOCK


@pytest.fixture(autouse=True)
def no_real_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every wait in these tests goes through the fake clock's own sleep."""
    def refuse(seconds: float) -> None:
        raise AssertionError(f"real time.sleep({seconds}) in a unit test")

    monkeypatch.setattr(time, "sleep", refuse)


@dataclass
class JumpClock:
    """Monotonic time advancing 1 µs per read; the first read past `stall_at_ns` jumps `stall_ns`."""

    mono: int = 0
    stall_at_ns: int = 10**18
    stall_ns: int = 0
    slept_ns: int = 0

    def mono_ns(self) -> int:
        self.mono += 1_000
        if self.mono > self.stall_at_ns:
            self.mono += self.stall_ns
            self.stall_at_ns = 10**18
        return self.mono

    def wall_ns(self) -> int:
        return 10**18 + self.mono

    def sleep(self, seconds: float) -> None:
        self.mono += int(seconds * 1e9)
        self.slept_ns += int(seconds * 1e9)


@dataclass
class FakeSocket:
    sent: list[bytes] = field(default_factory=list)

    def send(self, data: bytes) -> int:
        self.sent.append(bytes(data))
        return len(data)

    def setblocking(self, flag: bool) -> None:
        pass


def test_sender_stamps_sequences_and_times() -> None:
    sock, recorder, clock = FakeSocket(), Recorder(), JumpClock()
    config = QosConfig("h", 1, count=3, interval_s=0.001, size=64, spin_s=0.0)
    send_all(sock, config, 77, [0, 1_000_000, 2_000_000], recorder, clock)  # type: ignore[arg-type]
    assert clock.slept_ns > 1_500_000  # it slept between slots (on the fake clock: no real sleep)
    decoded = [probe.decode(d) for d in sock.sent]
    assert [p.seq for p in decoded] == [0, 1, 2] and {p.test_id for p in decoded} == {77}
    assert all(len(d) == 64 for d in sock.sent)
    assert [p.client_send_ns for p in decoded] == recorder.sends.wall_ns
    errors = [a - s for s, a in zip(recorder.sends.sched_mono_ns, recorder.sends.mono_ns, strict=True)]
    assert all(0 <= e < 10_000 for e in errors) and recorder.sends.missed == 0


def test_a_stall_past_the_next_slot_skips_instead_of_bursting() -> None:
    sock, recorder = FakeSocket(), Recorder()
    # slots at ≈ 1.002 + k ms; the sender sleeps to slot 2 (3.002 ms), then a 1.5 ms stall lands it past
    # slot 3's time (4.002 ms) but not slot 4's
    clock = JumpClock(stall_at_ns=2_500_000, stall_ns=1_500_000)
    config = QosConfig("h", 1, count=5, interval_s=0.001, spin_s=0.0)
    send_all(sock, config, 1, [i * 1_000_000 for i in range(5)], recorder, clock)  # type: ignore[arg-type]
    assert recorder.sends.missed == 1 and len(sock.sent) == 4
    assert [probe.decode(d).seq for d in sock.sent] == [0, 1, 2, 3]  # sequence numbers stay contiguous
    late = recorder.sends.mono_ns[2] - recorder.sends.sched_mono_ns[2]
    assert 400_000 < late < 600_000  # slot 3 left late once; no burst to catch up


def test_receiver_counts_and_ignores_strangers() -> None:
    recorder = Recorder()
    for _ in range(2):
        recorder.sends.mono_ns.append(0)
    receiver = Collector(FakeSocket(), recorder, test_id=5, clock=JumpClock())  # type: ignore[arg-type]
    good = probe.stamp_reply(probe.encode(probe.Probe(5, 1, 10)), 20, 30, count=1)
    foreign = probe.encode(probe.Probe(6, 1, 10))
    unknown_seq = probe.encode(probe.Probe(5, 9, 10))
    bad_version = bytearray(good)
    bad_version[4] = 9
    for data in (good, foreign, unknown_seq, b"short", bytes(bad_version), b"X" * 60, good):
        receiver._record(data, 1_000, 2_000)
    assert [a.seq for a in recorder.arrivals] == [1, 1]
    assert recorder.arrivals[0].server_count == 1 and recorder.arrivals[0].server_recv_ns == 20
    assert dict(recorder.rejected) == {"foreign": 1, "unknown_seq": 1, "short": 1, "version": 1, "magic": 1}


def test_plain_echo_reply_is_accepted_unstamped() -> None:
    recorder = Recorder()
    recorder.sends.mono_ns.append(0)
    receiver = Collector(FakeSocket(), recorder, test_id=5, clock=JumpClock())  # type: ignore[arg-type]
    receiver._record(probe.encode(probe.Probe(5, 0, 10)), 1_000, 2_000)
    arrival = recorder.arrivals[0]
    assert (arrival.server_recv_ns, arrival.server_send_ns, arrival.server_count) == (0, 0, None)
    assert struct.unpack_from("!Q", probe.encode(probe.Probe(5, 0, 10)), 12)[0] == 0


def test_a_short_hiccup_at_high_rate_is_caught_up_without_loss_of_slots() -> None:
    sock, recorder = FakeSocket(), Recorder()
    clock = JumpClock(stall_at_ns=1_150_000, stall_ns=500_000)  # 0.5 ms stall, slots every 0.1 ms
    config = QosConfig("h", 1, count=20, interval_s=0.0001, spin_s=0.0)
    send_all(sock, config, 1, [i * 100_000 for i in range(20)], recorder, clock)  # type: ignore[arg-type]
    assert recorder.sends.missed == 0 and len(sock.sent) == 20



@dataclass
class EchoSocket(FakeSocket):
    """Answers every probe at once (stamped, counted); replies wait until read, like a socket buffer."""

    waiting: list[bytes] = field(default_factory=list)
    most_waiting: int = 0
    reads: int = 0

    def send(self, data: bytes) -> int:
        self.waiting.append(probe.stamp_reply(bytes(data), 1, 2, count=len(self.sent) + 1))
        self.most_waiting = max(self.most_waiting, len(self.waiting))
        return super().send(data)

    def recvmsg_into(self, buffers: list[bytearray], ancbufsize: int) -> tuple[int, list[object], int, None]:
        if not self.waiting:
            raise BlockingIOError
        data = self.waiting.pop(0)
        buffers[0][:len(data)] = data
        self.reads += 1
        return len(data), [], 0, None


def test_a_sender_behind_schedule_sends_due_probes_first_and_reads_replies_in_batches() -> None:
    sock, recorder = EchoSocket(), Recorder()
    clock = JumpClock()  # 1 µs per clock read: slots 2 µs apart are always due, the sender is behind
    collector = Collector(sock, recorder, 1, clock, kernel_timestamps=True)  # type: ignore[arg-type]
    config = QosConfig("h", 1, count=500, interval_s=2e-6, spin_s=0.0)
    send_all(sock, config, 1, [i * 2_000 for i in range(500)], recorder, clock,  # type: ignore[arg-type]
             collector=collector)
    assert recorder.sends.missed == 0 and len(sock.sent) == 500
    assert sock.most_waiting <= engine.READ_EVERY + 1  # reading keeps pace with sending
    assert sock.reads < 500 + 500 // engine.READ_EVERY + 2  # not a read attempt per probe while behind
    collector.drain()
    assert sorted(a.seq for a in recorder.arrivals) == list(range(500))


@dataclass
class LateClock(JumpClock):
    """Every sleep ends 50 µs late: no spare time to read in."""

    def sleep(self, seconds: float) -> None:
        self.mono += int(seconds * 1e9) + 50_000


def test_a_sender_whose_sleeps_overshoot_still_reads_more_replies_than_it_sends() -> None:
    sock, recorder = EchoSocket(), Recorder()
    clock = LateClock()
    collector = Collector(sock, recorder, 1, clock, kernel_timestamps=True)  # type: ignore[arg-type]
    sock.waiting += [b"junk"] * 50  # a backlog (e.g. after a stall) shrinks even without spare time
    config = QosConfig("h", 1, count=300, interval_s=20e-6, spin_s=0.0)  # some slots due on waking
    send_all(sock, config, 1, [i * 20_000 for i in range(300)], recorder, clock,  # type: ignore[arg-type]
             collector=collector)
    assert sock.most_waiting <= 50 + 2 and len(sock.waiting) < engine.READ_EVERY  # never grew
    assert recorder.rejected["short"] == 50


def test_record_reads_only_the_datagram_from_a_larger_buffer() -> None:
    recorder = Recorder()
    recorder.sends.mono_ns.append(0)
    receiver = Collector(FakeSocket(), recorder, test_id=5, clock=JumpClock())  # type: ignore[arg-type]
    buffer = bytearray(probe.encode(probe.Probe(5, 0, 10), 60)) + b"\xff" * 100
    receiver._record(buffer, 1_000, 2_000, 60)
    receiver._record(buffer, 1_000, 2_000, 40)
    assert [a.size for a in recorder.arrivals] == [60] and dict(recorder.rejected) == {"short": 1}


def test_the_system_clock_is_read_without_a_python_frame() -> None:
    assert engine.clock_readers(SYSTEM_CLOCK) == (time.monotonic_ns, time.time_ns)
    fake = JumpClock()
    mono_ns, _ = engine.clock_readers(fake)
    assert mono_ns() == 1_000
