from typing import Any

import pytest

from netem.core.engine import Target, apply_ends, clear_targets
from netem.core.errors import ApplyError, NetemUnavailable
from netem.core.fields import Impairment
from netem.core.profile import load_profile

RATE = Impairment(rate_bps=10_000_000)


def proxy_targets(fake: Any) -> list[Target]:
    return [Target("proxy", "edge", "down", "eth0", fake), Target("proxy", "core", "up", "eth1", fake)]


def ends(edge: Impairment, core: Impairment) -> dict[tuple[str, str], Impairment]:
    return {("edge", "down"): edge, ("core", "up"): core, ("edge", "up"): Impairment(),
            ("core", "down"): Impairment()}


def test_apply_reads_back_tbf(fake_tc: Any) -> None:
    after = apply_ends(proxy_targets(fake_tc), ends(RATE, Impairment()))
    state = after["proxy:eth0 (edge.down)"]
    assert state is not None and state.kind == "tbf" and state.options["rate"] == 1_250_000
    assert after["proxy:eth1 (core.up)"] is not None
    assert "eth1" not in fake_tc.roots
    assert not any(c[2:3] == ["del"] for c in fake_tc.calls if c[0] == "tc")  # default left alone


def test_failure_rolls_back_what_was_changed(fake_tc: Any) -> None:
    fake_tc.fail_devs.add("eth1")
    with pytest.raises(ApplyError, match="Operation not permitted") as info:
        apply_ends(proxy_targets(fake_tc), ends(RATE, RATE))
    assert info.value.stderr == "RTNETLINK answers: Operation not permitted"
    assert fake_tc.roots == {}


def test_rollback_restores_a_previous_tbf(fake_tc: Any) -> None:
    apply_ends(proxy_targets(fake_tc), ends(Impairment(rate_bps=5_000_000), Impairment()))
    fake_tc.fail_devs.add("eth1")
    with pytest.raises(ApplyError):
        apply_ends(proxy_targets(fake_tc), ends(RATE, RATE))
    assert fake_tc.roots["eth0"][1]["rate"] == 625_000


def test_the_error_says_whether_everything_was_put_back(fake_tc: Any) -> None:
    """A clean rollback marks the error rolled back; one that could not put a root back says what is left,
    where it used to be dropped silently."""
    fake_tc.fail_devs.add("eth1")
    with pytest.raises(ApplyError) as info:
        apply_ends(proxy_targets(fake_tc), ends(RATE, RATE))
    assert info.value.rolled_back and "rolling back left" not in str(info.value)
    fake_tc.fail_devs.clear()
    apply_ends(proxy_targets(fake_tc), ends(RATE, Impairment(rate_bps=5_000_000)))
    fake_tc.fail_devs.add("eth1")  # its tbf cannot be rebuilt either
    with pytest.raises(ApplyError) as info:
        apply_ends(proxy_targets(fake_tc), ends(Impairment(rate_bps=20_000_000), RATE))
    assert not info.value.rolled_back
    left = "rolling back left: proxy:eth1 (core.up): tc qdisc replace dev eth1 root handle 1: tbf"
    assert left in str(info.value)
    assert fake_tc.roots["eth0"][1]["rate"] == 1_250_000  # the other end is back as it was


def test_no_sch_netem_says_so_and_leaves_interfaces(fake_tc: Any) -> None:
    profile = load_profile("congested")
    with pytest.raises(NetemUnavailable) as info:
        apply_ends(proxy_targets(fake_tc), profile.ends)
    message = str(info.value)
    assert "this kernel has no sch_netem" in message
    assert "Specified qdisc kind is unknown" in message
    assert "delay, jitter" in message and "work without netem (tbf): rate, packet_overhead, limit" in message
    assert fake_tc.roots == {}


def test_clear_is_idempotent(fake_tc: Any) -> None:
    targets = proxy_targets(fake_tc)
    apply_ends(targets, ends(RATE, RATE))
    clear_targets(targets)
    clear_targets(targets)
    assert fake_tc.roots == {}


def test_log_lines_carry_argv_and_counters(fake_tc: Any) -> None:
    lines: list[tuple[str, dict[str, Any]]] = []
    apply_ends(proxy_targets(fake_tc), ends(RATE, Impairment()), log=lambda n, **f: lines.append((n, f)))
    names = [n for n, _ in lines]
    assert names == ["netem.tc", "netem.readback", "netem.readback"]
    assert lines[0][1]["argv"].startswith("tc qdisc replace dev eth0 root handle 1: tbf rate 10mbit")
    assert lines[1][1]["rate_bps"] == 10_000_000 and lines[1][1]["sent_bytes"] == 10


def test_switching_netem_profiles_starts_from_a_fresh_qdisc(fake_tc: Any) -> None:
    """netem's change keeps attributes a command omits, so netem → netem deletes the old root first."""
    fake_tc.netem = True
    targets = proxy_targets(fake_tc)
    apply_ends(targets, ends(Impairment(delay_us=20_000, reorder_pct=25.0), Impairment()))
    fake_tc.calls.clear()
    apply_ends(targets, ends(Impairment(delay_us=50_000), Impairment()))
    verbs = [c[2] for c in fake_tc.calls if c[:2] == ["tc", "qdisc"] and c[2] != "show"]
    assert verbs == ["del", "replace"]
    fake_tc.calls.clear()
    apply_ends(targets, ends(RATE, Impairment()))  # netem → tbf: replace swaps the kind by itself
    assert [c[2] for c in fake_tc.calls if c[:2] == ["tc", "qdisc"] and c[2] != "show"] == ["replace"]
