"""Capture options, file names, the tcpdump argv and its closing words; `capture:` in scenario files
(pure, no tcpdump run here)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netem import topology
from netem.commands import capture, cli, scenario
from netem.core.errors import ScenarioError


def test_default_side_is_the_proxy_and_a_named_side_must_be_on_the_link() -> None:
    assert capture.make_spec("edge").side == "proxy"
    assert capture.make_spec("core", "server", duration="1500ms").duration_s == 1.5
    with pytest.raises(capture.CaptureError, match="edge joins client and proxy"):
        capture.make_spec("edge", "server")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"link": "wan"}, "expected one of edge, core"),
    ({"link": "edge", "side": "router"}, "has no end on edge"),
    ({"link": "edge", "duration": "soon"}, "--duration 'soon'"),
    ({"link": "edge", "duration": "0s"}, "positive"),
    ({"link": "edge", "count": 0}, "--count 0"),
    ({"link": "edge", "duration": "1s", "count": 5}, "give one of them"),
])
def test_bad_options_name_what_is_wrong(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(capture.CaptureError, match=message):
        capture.make_spec(**kwargs)


def test_cli_refuses_bad_options_as_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["capture", "edge", "--service", "server"]) == 2
    assert "edge joins client and proxy" in capsys.readouterr().err


def test_default_path_names_link_side_and_utc_time() -> None:
    path = capture.default_path(Path("results"), "edge", "proxy", 1_796_083_200.0)
    assert path == Path("results/captures/edge-proxy-20261201T000000Z.pcap")
    assert capture.default_path(Path("r"), "core", "server", 0.0, tag="s-4g-r1-qos").name == \
        "s-4g-r1-qos-core-server-19700101T000000Z.pcap"
    assert capture.results_dir({"QOSLAB_RESULTS": "/tmp/x"}) == Path("/tmp/x")
    assert capture.results_dir({}, repo=Path("/repo")) == Path("/repo/results")


def test_tcpdump_runs_in_the_container_namespace_as_root_writing_each_packet() -> None:
    bpf = f"udp port {topology.port('proxy', 'udp')}"
    argv = capture.tcpdump_argv(4242, "eth1", Path("/r/x.pcap"), count=50, bpf=bpf)
    assert argv == ["nsenter", "--net=/proc/4242/ns/net", "--", "tcpdump", "-i", "eth1", "-n", "-s", "65535",
                    "--immediate-mode", "-U", "-Z", "root", "-w", "/r/x.pcap", "-c", "50", bpf]
    assert capture.tcpdump_argv(1, "eth0", Path("x"))[-2:] == ["-w", "x"]
    netns = "/run/docker/netns/ab12"
    assert capture.tcpdump_argv(netns, "eth0", Path("x"))[1] == f"--net={netns}"


def test_tcpdump_words() -> None:
    assert capture.is_listening("tcpdump: listening on eth1, link-type EN10MB (Ethernet)")
    assert capture.is_listening("listening on eth1, link-type EN10MB (Ethernet), snapshot length 65535 bytes")
    assert not capture.is_listening("tcpdump: eth9: No such device exists")
    done = capture.parse_summary(Path("x"), "12 packets captured\n14 packets received by filter\n"
                                            "0 packets dropped by kernel\n")
    assert (done.captured, done.dropped) == (12, 0)
    assert capture.parse_summary(Path("x"), "").captured is None


BASE: dict[str, Any] = {"profiles": ["none"], "tests": ["qos", "http"]}


def test_scenario_capture_key() -> None:
    assert scenario.parse_scenario({**BASE, "capture": "edge"}, "s.yaml", "s").capture == "edge"
    assert scenario.parse_scenario(BASE, "s.yaml", "s").capture is None
    with pytest.raises(ScenarioError, match="capture: invalid value 'wan'"):
        scenario.parse_scenario({**BASE, "capture": "wan"}, "s.yaml", "s")


def test_every_client_run_is_inside_its_capture_and_rows_name_the_file() -> None:
    plan = scenario.parse_scenario({**BASE, "capture": "edge", "repetitions": 2}, "s.yaml", "s")
    events: list[str] = []

    @contextlib.contextmanager
    def around(profile: str, rep: int, test: str) -> Iterator[dict[str, Any]]:
        events.append(f"start {rep} {test}")
        yield {"capture": f"{profile}-{rep}-{test}.pcap"}
        events.append(f"stop {rep} {test}")

    def client(profile: str, test: str, extra: list[str]) -> list[dict[str, Any]]:
        events.append(f"run {test}")
        return [{"kind": test}]

    rows = scenario.run_matrix(plan, lambda p: None, lambda: None, client, lambda s: None, around)
    assert events[:6] == ["start 1 qos", "run qos", "stop 1 qos", "start 1 http", "run http", "stop 1 http"]
    assert [r["capture"] for r in rows] == ["none-1-qos.pcap", "none-1-http.pcap", "none-2-qos.pcap",
                                            "none-2-http.pcap"]
