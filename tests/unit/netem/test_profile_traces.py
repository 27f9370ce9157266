"""Profiles with trace files, table files, per-destination rules and client mixes: parsed, resolved,
and every bad input refused with the file and the line or key that is wrong."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from netem import topology
from netem.core.clients import class_of
from netem.core.errors import ProfileError, SchemaError
from netem.core.fields import Impairment, TraceRef
from netem.core.profile import load_profile
from netem.traces.errors import TraceError
from netem.traces.load import load

REPLICA = str(ipaddress.ip_network(topology.IPAM_RANGES["edge"])[2])  # a client replica's address
OTHER = str(ipaddress.ip_network(topology.SUBNETS["core"])[99])  # another container on core


def write(tmp_path: Path, profile: str, **files: str) -> str:
    for name, text in files.items():
        (tmp_path / name.replace("_", ".")).write_text(text)
    path = tmp_path / "p.yaml"
    path.write_text("description: test\n" + profile)
    return str(path)


def test_trace_and_table_files_are_read_relative_to_the_profile(tmp_path: Path) -> None:
    table = "# t\n" + " ".join(str(v) for v in range(-8, 8)) + "\n"
    path = write(tmp_path, "edge:\n  down: {trace: {file: cell.down, window: 50ms}, delay: 5ms}\n"
                           "  up: {trace: ramp.csv, delay: 1ms, jitter: 1ms, distribution: rec.dist}\n",
                 cell_down="0\n0\n40\n100\n", ramp_csv="t,delay:linear\n0s,10ms\n100ms,20ms\n",
                 rec_dist=table)
    loaded = load(path)
    down = loaded.profile.ends[("edge", "down")]
    assert down.trace == TraceRef("cell.down", 50, None)
    assert loaded.schedules[down.trace].period_s == 0.1
    # window 50-100 ms: 50 ms of the 60 ms gap that ends with the opportunity at 100 (= the next loop's 0)
    assert loaded.state_at(down, 0.06).rate_bps == round(50 / 60 * 12000 / 0.05)
    assert loaded.state_at(down, 0.06).delay_us == 5000  # the static settings stay
    up = loaded.profile.ends[("edge", "up")]
    assert loaded.state_at(up, 0.05).delay_us == 15_000
    assert loaded.tables["rec.dist"] == tuple(range(-8, 8))
    assert loaded.files() == ["cell.down", "ramp.csv", "rec.dist"]


@pytest.mark.parametrize(("profile", "files", "message"), [
    ("edge: {trace: t.down}\n", {"t_down": "0\n30\n20\n"}, "t.down:3: timestamp: invalid value 20"),
    ("edge: {trace: t.down}\n", {"t_down": ""}, "the trace is empty"),
    ("edge: {trace: t.csv}\n", {"t_csv": "t,delay,bogus\n0s,1ms,2\n"}, "t.csv:1: bogus"),
    ("edge: {trace: missing.down}\n", {}, "edge.up.trace: invalid value 'missing.down': a readable text"),
    ("edge: {trace: ../up.down}\n", {}, "no absolute path, no .."),
    ("edge: {trace: t.csv}\n", {"t_csv": "t,jitter\n0s,1ms\n"}, "jitter needs delay"),
    ("edge: {delay: 1ms, jitter: 1ms, distribution: x.dist}\n", {"x_dist": "1 2 99999\n"}, "x.dist:1"),
])
def test_bad_files_are_named_with_their_line(tmp_path: Path, profile: str, files: dict[str, str],
                                              message: str) -> None:
    path = write(tmp_path, profile, **files)
    with pytest.raises(TraceError) as info:
        load(path)
    assert message in str(info.value)


def test_trace_keys_are_checked_in_the_profile(tmp_path: Path) -> None:
    for block, words in (("{file: a, windw: 5ms}", "edge.trace.windw: invalid value"),
                         ("{file: a, window: 5ms}", "whole milliseconds from 10ms to 1000ms"),
                         ("{file: a, loop: maybe}", "true or false"), ("[a]", "a file name, or a mapping")):
        with pytest.raises(ProfileError, match=words.replace(".", r"\.")):
            load_profile(write(tmp_path, f"edge: {{trace: {block}}}\n"))


def test_to_rules_resolve_per_end_on_top_of_the_ends_own_settings(tmp_path: Path) -> None:
    path = write(tmp_path, "core:\n  delay: 5ms\n  to:\n    server: {delay: 40ms}\n"
                           f"    {OTHER}: {{loss: 1%}}\n"
                           f"edge:\n  down:\n    to: {{{REPLICA}: {{rate: 2mbit}}}}\n")
    profile = load_profile(path)
    core_up = profile.destinations[("core", "up")]  # the proxy's egress on core
    assert core_up["server"] == Impairment(delay_us=40_000)
    assert core_up[OTHER] == Impairment(delay_us=5_000, loss_pct=1.0)
    assert "server" not in profile.destinations[("core", "down")]  # the server's own egress: skipped
    assert profile.destinations[("edge", "down")] == {REPLICA: Impairment(rate_bps=2_000_000)}
    assert ("edge", "up") not in profile.destinations
    assert profile.ends[("core", "up")] == Impairment(delay_us=5_000)


@pytest.mark.parametrize(("profile", "words"), [
    ("core: {up: {to: {proxy: {delay: 1ms}}}}\n", "core.up.to.proxy: invalid value 'proxy': another service"),
    ("core: {to: {'bad name!': {delay: 1ms}}}\n", "a service name or an IP address"),
    ("core: {to: {server: {delya: 1ms}}}\n", "core.to.server.delya: invalid value"),
    ("core: {to: []}\n", "a mapping DESTINATION"),
    ("core: {to: {server: {jitter: 1ms}}}\n", "core.up.to.server.jitter"),
    ("steps: [{at: 1s, core: {to: {server: {delay: 1ms}}}}]\ncore: {delay: 1ms}\n", "not allowed here"),
])
def test_bad_to_rules(tmp_path: Path, profile: str, words: str) -> None:
    with pytest.raises(ProfileError) as info:
        load_profile(write(tmp_path, profile))
    assert words in str(info.value)


MIX = """core: {delay: 5ms}
edge: {delay: 1ms}
clients:
  by: share
  classes:
    - {name: lte, share: 50%, profile: 4g}
    - {name: slow, share: 25%, edge: {delay: 50ms, down: {rate: 2mbit}}}
    - {name: sat, share: 25%, profile: satellite, edge: {loss: 1%}}
"""


def test_a_client_mix_gives_each_class_its_edge_ends(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, MIX))
    assert profile.clients is not None
    lte, slow, sat = profile.clients.classes
    four_g = load_profile("4g")
    assert lte.ends[("edge", "up")] == four_g.ends[("edge", "up")]
    assert slow.ends[("edge", "down")] == Impairment(delay_us=50_000, rate_bps=2_000_000)
    assert slow.ends[("edge", "up")] == Impairment(delay_us=50_000)
    assert sat.ends[("edge", "up")].loss_pct == 1.0 and sat.ends[("edge", "up")].delay_us == 290_000
    assert [class_of(profile.clients, i).name for i in range(1, 13)].count("lte") == 6  # type: ignore[union-attr]
    assert profile.ends[("core", "up")] == Impairment(delay_us=5_000)


@pytest.mark.parametrize(("clients", "words"), [
    ("{classes: [{name: a, share: 70%}, {name: b, share: 20%}]}", "shares sum to 90%, not 100%"),
    ("{by: index, classes: [{name: a, replicas: 1-3}, {name: b, replicas: 3}]}", "replica 3 is in both"),
    ("{classes: [{name: a, share: 100%, profile: nope}]}", "a shipped profile (3g, 4g"),
    ("{classes: [{name: a, share: 50%}, {name: a, share: 50%}]}", "each class name once"),
    ("{by: speed, classes: []}", "share or index"),
    ("{classes: [{name: a, share: 100%, edge: {delya: 1ms}}]}", "clients.classes[0].edge.delya"),
    ("{classes: [{name: a, replicas: 1}]}", "clients are assigned by share: give share"),
])
def test_bad_client_mixes(tmp_path: Path, clients: str, words: str) -> None:
    with pytest.raises(SchemaError) as info:
        load_profile(write(tmp_path, f"clients: {clients}\n"))
    assert words in str(info.value)


@pytest.mark.parametrize(("profile", "words"), [
    ("core: {up: {rate: 1mbit, queue: fq_codel, to: {server: {delay: 1ms}}}}\n", "core.up.queue"),
    ("core: {up: {to: {server: {rate: 1mbit, queue: pfifo}}}}\n", "core.up.to.server.queue"),
    ("clients: {classes: [{name: a, share: 100%, edge: {down: {rate: 1mbit, queue: cake}}}]}\n",
     "clients.a.edge.down.queue"),
])
def test_a_queue_is_refused_on_an_end_that_becomes_a_tree(tmp_path: Path, profile: str, words: str) -> None:
    with pytest.raises(ProfileError) as info:
        load_profile(write(tmp_path, profile))
    assert words in str(info.value) and "HTB tree" in str(info.value)
    # the client's own egress in a mix is not a tree: a queue there is fine
    load_profile(write(tmp_path, "clients: {classes: [{name: a, share: 100%, edge: {up: {rate: 1mbit, "
                                 "queue: fq_codel}}}]}\n"))


def test_a_queue_is_refused_on_a_traced_end(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as info:
        load_profile(write(tmp_path, "edge: {down: {trace: t.csv, rate: 1mbit, queue: pfifo}}\n",
                           t_csv="t_ms,delay_ms\n0,10\n"))
    assert "edge.down.queue" in str(info.value) and "netlink" in str(info.value)


def test_plan_lists_trees_mixes_and_traces(tmp_path: Path) -> None:
    from netem.core.plan import plan_lines

    (tmp_path / "t.csv").write_text("t,delay\n0s,1ms\n")
    path = write(tmp_path, "core: {up: {to: {server: {delay: 30ms}}}}\n"
                           f"edge: {{down: {{to: {{{REPLICA}: {{rate: 2mbit}}}}, trace: t.csv, "
                           "delay: 1ms}}\n")
    lines = plan_lines(load_profile(path))
    assert any("[to:]" in line and f"match ip dst {REPLICA}/32" in line for line in lines)
    assert any("a leaf per address of server on core (delay)" in line for line in lines)
    assert "# edge.down: trace t.csv replayed by the netem agent (netlink)" in lines
    mixed = plan_lines(load_profile(write(tmp_path, "clients: {classes: [{name: a, share: 100%, "
                                                    "edge: {delay: 5ms}}]}\n")))
    assert any(line.startswith("# clients a (100%): replica egress delay") for line in mixed)
