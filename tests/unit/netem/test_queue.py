"""`queue:` — schema, cross-field rules, the tc tree (golden argv), steps, engine read-back and rollback."""

from __future__ import annotations

from typing import Any

import pytest

from netem.core import queue, tc
from netem.core.engine import Target, apply_ends, clear_targets
from netem.core.errors import ApplyError, ProfileError, QdiscUnavailable
from netem.core.fields import Impairment
from netem.core.profile import parse_profile
from netem.core.queue import Queue


def end(settings: dict[str, object]) -> Impairment:
    profile = parse_profile({"description": "t", "edge": {"down": settings}}, "t.yaml", "t")
    return profile.ends[("edge", "down")]


def error(settings: dict[str, object]) -> ProfileError:
    with pytest.raises(ProfileError) as info:
        end(settings)
    return info.value


@pytest.mark.parametrize(("raw", "expected"), [
    ("fq_codel", Queue("fq_codel")),
    ({"kind": "pfifo", "limit": 200}, Queue("pfifo", limit=200)),
    ({"kind": "fq_codel", "target": "5ms", "interval": "100ms", "limit": 10240, "flows": 1024,
      "quantum": 1514, "ecn": False},
     Queue("fq_codel", limit=10240, target_us=5000, interval_us=100_000, flows=1024, quantum=1514,
           ecn=False)),
    ({"kind": "cake", "bandwidth": "9mbit", "rtt": "50ms", "diffserv": "besteffort", "flowmode": "flows",
      "memlimit": "4MiB"},
     Queue("cake", bandwidth_bps=9_000_000, rtt_us=50_000, diffserv="besteffort", flowmode="flows",
           memlimit=4 << 20)),
])
def test_schema(raw: object, expected: Queue) -> None:
    assert end({"rate": "10mbit", "queue": raw}).queue == expected


@pytest.mark.parametrize(("raw", "key", "words"), [
    ("red", "edge.down.queue.kind", "one of pfifo, fq_codel, cake"),
    ({"limit": 5}, "edge.down.queue.kind", "one of pfifo, fq_codel, cake"),
    ({"kind": "pfifo", "target": "5ms"}, "edge.down.queue.target",
     "unknown key for pfifo; allowed: kind, limit"),
    ({"kind": "fq_codel", "target": 5}, "edge.down.queue.target", "a duration with a unit"),
    ({"kind": "cake", "bandwidth": "9mbps"}, "edge.down.queue.bandwidth", "a rate in bits per second"),
    ({"kind": "cake", "limit": 100}, "edge.down.queue.limit", "unknown key for cake"),
    ({"kind": "fq_codel", "ecn": "yes"}, "edge.down.queue.ecn", "true or false"),
    (7, "edge.down.queue", "one of pfifo, fq_codel, cake, or a mapping"),
])
def test_schema_errors_name_the_key(raw: object, key: str, words: str) -> None:
    problem = error({"rate": "10mbit", "queue": raw})
    assert problem.key == key and words in problem.allowed


def test_cross_field_rules() -> None:
    assert "queue needs rate" in error({"delay": "10ms", "queue": "fq_codel"}).allowed
    assert "give the queue its own limit" in error({"rate": "1mbit", "limit": 50, "queue": "pfifo"}).allowed
    assert "0-65535" in error({"rate": "1mbit", "packet_overhead": -4, "queue": "pfifo"}).allowed


def test_a_queue_end_is_a_netem_tree_even_without_netem_fields() -> None:
    imp = end({"rate": "10mbit", "queue": {"kind": "pfifo", "limit": 200}})
    assert imp.kind == "netem" and imp.layout == "netem>tbf>pfifo"
    assert imp.netem_keys() == ["queue"]


def test_golden_tree() -> None:
    imp = end({"delay": "10ms", "rate": "10mbit", "packet_overhead": 24,
               "queue": {"kind": "fq_codel", "target": "5ms", "interval": "100ms", "ecn": False}})
    assert tc.end_argvs("eth0", imp) == [
        ["ip", "link", "set", "dev", "eth0", "gso_max_segs", "1"],
        ["tc", "qdisc", "replace", "dev", "eth0", "root", "handle", "1:", "netem", "limit", "1000",
         "delay", "10ms"],
        ["tc", "qdisc", "replace", "dev", "eth0", "parent", "1:1", "handle", "2:", "tbf", "rate", "10mbit",
         "burst", "15140", "limit", "77640", "overhead", "24"],
        ["tc", "qdisc", "replace", "dev", "eth0", "parent", "2:1", "handle", "3:", "fq_codel",
         "target", "5ms", "interval", "100ms", "noecn"]]
    change = tc.end_argvs("eth0", imp, "change")
    assert [argv[2] for argv in change] == ["change"] * 3 and change[0][:5] == ["tc", "qdisc", "change",
                                                                                  "dev", "eth0"]


@pytest.mark.parametrize(("q", "args"), [
    (Queue("pfifo"), ["limit", "1000"]), (Queue("pfifo", limit=200), ["limit", "200"]),
    (Queue("fq_codel"), []), (Queue("fq_codel", limit=500, flows=64, quantum=300, ecn=True),
                              ["limit", "500", "flows", "64", "quantum", "300", "ecn"]),
    (Queue("cake"), ["unlimited"]),
    (Queue("cake", bandwidth_bps=9_000_000, rtt_us=20_000, diffserv="diffserv4", flowmode="triple-isolate",
           memlimit=1 << 20), ["bandwidth", "9mbit", "rtt", "20ms", "diffserv4", "triple-isolate",
                               "memlimit", "1048576"]),
])
def test_queue_args(q: Queue, args: list[str]) -> None:
    assert queue.queue_args(q) == args


def test_aqm_target() -> None:
    assert queue.target_us(Queue("pfifo")) is None
    assert queue.target_us(Queue("fq_codel")) == 5000
    assert queue.target_us(Queue("fq_codel", target_us=2000)) == 2000
    assert queue.target_us(Queue("cake", rtt_us=40_000)) == 2000 and queue.target_us(Queue("cake")) == 5000


def test_a_step_may_not_switch_the_queue_kind() -> None:
    raw = {"description": "t", "edge": {"rate": "10mbit", "queue": "pfifo"},
           "steps": [{"at": "1s", "edge": {"queue": "fq_codel"}}]}
    with pytest.raises(ProfileError, match="from netem>tbf>pfifo to netem>tbf>fq_codel"):
        parse_profile(raw, "t.yaml", "t")
    raw["steps"] = [{"at": "1s", "edge": {"rate": "5mbit", "queue": {"kind": "pfifo", "limit": 50}}}]
    assert parse_profile(raw, "t.yaml", "t").steps[0].ends[("edge", "up")].rate_bps == 5_000_000


def targets(fake: Any) -> list[Target]:
    return [Target("proxy", "edge", "down", "eth0", fake)]


def only(imp: Impairment) -> dict[tuple[str, str], Impairment]:
    return {("edge", "down"): imp, ("edge", "up"): Impairment(), ("core", "up"): Impairment(),
            ("core", "down"): Impairment()}


QUEUE_END = Impairment(delay_us=10_000, rate_bps=10_000_000, queue=Queue("pfifo", limit=200))


def test_apply_builds_and_reads_back_the_tree(fake_tc: Any) -> None:
    fake_tc.netem = True
    lines: list[tuple[str, dict[str, Any]]] = []
    after = apply_ends(targets(fake_tc), only(QUEUE_END), log=lambda n, **f: lines.append((n, f)))
    assert after["proxy:eth0 (edge.down)"] is not None and fake_tc.roots["eth0"][0] == "netem"
    assert fake_tc.children[("eth0", "1:1")][0] == "tbf" and fake_tc.children[("eth0", "2:1")][0] == "pfifo"
    assert fake_tc.gso["eth0"] == 1
    readback = next(f for n, f in lines if n == "netem.readback")
    assert readback["queue"] == "pfifo" and readback["queue_dropped"] == 2
    assert readback["queue_backlog"] == 3028


def test_clearing_gives_back_segmentation_offload(fake_tc: Any) -> None:
    fake_tc.netem = True
    apply_ends(targets(fake_tc), only(QUEUE_END))
    clear_targets(targets(fake_tc))
    assert fake_tc.roots == {} and fake_tc.children == {} and fake_tc.gso["eth0"] == 65535


def test_a_profile_without_queue_after_one_with_gives_it_back_too(fake_tc: Any) -> None:
    fake_tc.netem = True
    apply_ends(targets(fake_tc), only(QUEUE_END))
    apply_ends(targets(fake_tc), only(Impairment(delay_us=10_000)))
    assert fake_tc.gso["eth0"] == 65535 and fake_tc.children == {}


def test_a_missing_qdisc_module_is_named_and_everything_is_rolled_back(fake_tc: Any) -> None:
    fake_tc.netem = True
    fake_tc.queues = {"pfifo", "fq_codel"}
    imp = Impairment(rate_bps=10_000_000, queue=Queue("cake"))
    with pytest.raises(QdiscUnavailable) as info:
        apply_ends(targets(fake_tc), only(imp))
    assert info.value.module == "sch_cake"
    assert "this kernel has no sch_cake" in str(info.value)
    assert "this end's queue (cake) needs it" in str(info.value)
    assert fake_tc.roots == {} and fake_tc.children == {} and fake_tc.gso["eth0"] == 65535


def test_read_back_checks_the_children(fake_tc: Any) -> None:
    fake_tc.netem = True
    fake_tc.misreport["fq_codel"] = "pfifo"
    with pytest.raises(ApplyError, match="read back: expected fq_codel under tbf, found pfifo"):
        apply_ends(targets(fake_tc), only(Impairment(rate_bps=10_000_000, queue=Queue("fq_codel"))))
    assert fake_tc.roots == {} and fake_tc.gso["eth0"] == 65535
