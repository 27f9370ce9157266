import pytest

from netem.core import tc
from netem.core.fields import GeModel, Impairment, Slot
from netem.core.profile import load_profile

HEAD = ["tc", "qdisc", "replace", "dev", "eth1", "root", "handle", "1:"]


@pytest.mark.parametrize(("imp", "tail"), [
    (Impairment(delay_us=40_000), ["netem", "limit", "6606", "delay", "40ms"]),
    (Impairment(delay_us=40_000, jitter_us=5_000, correlation_pct=25.0, distribution="normal", limit=500),
     ["netem", "limit", "500", "delay", "40ms", "5ms", "25%", "distribution", "normal"]),
    (Impairment(loss_pct=0.5, loss_correlation_pct=25.0, limit=10),
     ["netem", "limit", "10", "loss", "random", "0.5%", "25%"]),
    (Impairment(gemodel=GeModel(1.0, 30.0, 100.0, 0.0), limit=10),
     ["netem", "limit", "10", "loss", "gemodel", "1%", "30%", "100%", "0%"]),
    (Impairment(duplicate_pct=1.0, corrupt_pct=0.1, corrupt_correlation_pct=5.0, limit=10),
     ["netem", "limit", "10", "duplicate", "1%", "corrupt", "0.1%", "5%"]),
    (Impairment(delay_us=10_000, reorder_pct=25.0, reorder_correlation_pct=50.0, gap=5, limit=10),
     ["netem", "limit", "10", "delay", "10ms", "reorder", "25%", "50%", "gap", "5"]),
    (Impairment(delay_us=1_500, rate_bps=20_000_000, packet_overhead=-4, limit=10),
     ["netem", "limit", "10", "delay", "1500us", "rate", "20mbit", "-4"]),
    (Impairment(slot=Slot(1000, 4000, packets=32, bytes=65536), limit=10),
     ["netem", "limit", "10", "slot", "1ms", "4ms", "packets", "32", "bytes", "65536"]),
    (Impairment(rate_bps=10_000_000), ["tbf", "rate", "10mbit", "burst", "15140", "limit", "77640"]),
    (Impairment(rate_bps=1_000_000_000, limit=100, packet_overhead=24),
     ["tbf", "rate", "1gbit", "burst", "500000", "limit", "151400", "overhead", "24"]),
])
def test_golden_argv(imp: Impairment, tail: list[str]) -> None:
    assert tc.qdisc_argv("eth1", imp) == HEAD + tail


def test_empty_settings_clear_and_change_verb() -> None:
    assert tc.qdisc_argv("eth1", Impairment()) == ["tc", "qdisc", "del", "dev", "eth1", "root"]
    argv = tc.qdisc_argv("eth1", Impairment(rate_bps=5_000_000), "change")
    assert argv[:3] == ["tc", "qdisc", "change"]


def test_default_limit_covers_rate_times_delay() -> None:
    # satellite: 25 Mbit/s × (290 ms + 4 × 10 ms), twice over, in full frames
    imp = load_profile("satellite").ends[("edge", "down")]
    assert tc.default_limit_packets(imp) == 1363
    assert tc.default_limit_packets(Impairment(delay_us=100)) == tc.NETEM_DEFAULT_LIMIT


def test_restore_argv() -> None:
    assert tc.restore_argv("eth1", "noqueue", {}) == tc.clear_argv("eth1")
    assert tc.restore_argv("eth1", "tbf", {"rate": 1250000, "burst": 15140, "lat": 5000}) == [
        *HEAD, "tbf", "rate", "10000000bit", "burst", "15140", "latency", "5000us"]
    assert tc.restore_argv("eth1", "netem", {"limit": 1000}) is None
