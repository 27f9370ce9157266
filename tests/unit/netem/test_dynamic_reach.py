"""How the controller reaches a container's state and agent (netem.commands.dynamic): pure parts."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any

import pytest

from netem import topology
from netem.commands import dynamic, state
from netem.core import targets
from netem.core.engine import Target
from netem.traces.load import load


class FakeContainer:
    def __init__(self, pid: int = 0, env: list[str] | None = None) -> None:
        self.name = "proj-proxy-1"
        self.attrs: dict[str, Any] = {"State": {"Pid": pid}, "Config": {"Env": env or []}}


def test_a_state_tar_is_written_as_put_archive_would(tmp_path: Path) -> None:
    files = {"p.yaml": b"description: x\n", "t/a.csv": b"t_ms,delay_ms\n"}
    data = state.in_force_tar("p", files, "p.yaml", 7, 5)
    dynamic.extract(data, tmp_path)
    pointer = state.read_in_force(tmp_path)
    assert pointer is not None and pointer.name == "p" and pointer.epoch_ns == 7
    assert (tmp_path / "in-force-5" / "t" / "a.csv").read_bytes() == b"t_ms,delay_ms\n"
    assert not [p for p in tmp_path.rglob(".*")]  # written whole: no temporaries left


def test_a_tar_cannot_write_outside_the_state(tmp_path: Path) -> None:
    import io
    import tarfile

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name in ("../escape", "/abs", "ok.json"):
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"{}"))
    (tmp_path / "state").mkdir()
    dynamic.extract(out.getvalue(), tmp_path / "state")
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["ok.json"]


def fake_proc(tmp_path: Path, processes: dict[int, tuple[str, list[str]]]) -> Path:
    """A /proc with ns/pid links and cmdlines."""
    proc = tmp_path / "proc"
    for pid, (namespace, argv) in processes.items():
        (proc / str(pid) / "ns").mkdir(parents=True)
        os.symlink(namespace, proc / str(pid) / "ns" / "pid")
        (proc / str(pid) / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    (proc / "self").mkdir()
    return proc


def test_agents_are_found_in_the_containers_pid_namespace_only(tmp_path: Path) -> None:
    agent = ["python3", "-m", "netem.commands.agent", "--log-file", "--detach"]
    proc = fake_proc(tmp_path, {
        100: ("pid:[1]", ["python3", "-m", "services.proxy"]),  # the container's init
        120: ("pid:[1]", agent),
        130: ("pid:[1]", ["python3", "-m", "netem.commands.agent", "--stop"]),  # a stopper, not an agent
        140: ("pid:[1]", ["grep", "netem.commands.agent.py"]),  # a word that only contains the mark
        200: ("pid:[2]", agent),  # another container's agent
    })
    assert dynamic.agent_pids(proc, 100) == [120]
    assert dynamic.agent_pids(proc, 999) == []  # the container is gone


def test_the_agent_starts_in_every_namespace_of_the_container_with_its_environment() -> None:
    argv = dynamic.nsenter_argv("/usr/bin/nsenter", 42, [*dynamic.AGENT, "--detach"])
    assert argv[:2] == ["/usr/bin/nsenter", "--target=42"]
    assert {"--mount", "--uts", "--ipc", "--net", "--pid", "--root", "--wd"} <= set(argv[2:argv.index("--")])
    assert argv[argv.index("--") + 1:] == ["python3", "-m", "netem.commands.agent", "--detach"]
    container = FakeContainer(env=["PATH=/usr/local/bin:/usr/bin", "QOSLAB_SERVICE=proxy", "EMPTY=", "A=b=c"])
    assert dynamic.container_env(container) == {"PATH": "/usr/local/bin:/usr/bin", "QOSLAB_SERVICE": "proxy",
                                                "EMPTY": "", "A": "b=c"}


@pytest.mark.parametrize(("environ", "pid", "want"), [
    ({}, 0, dynamic.ApiReach),  # not running (no PID)
    ({"NETEM_RUNNER": "exec"}, 1, dynamic.ApiReach),  # asked for docker exec
])
def test_the_api_is_the_way_where_the_host_cannot_reach(environ: dict[str, str], pid: int,
                                                        want: type) -> None:
    assert isinstance(dynamic.reach(FakeContainer(pid), environ), want)


class Labelled:
    def __init__(self, number: str = "") -> None:
        self.labels = {dynamic.NUMBER_LABEL: number} if number else {}


def test_the_controllers_plans_on_the_dual_stack_stack_cover_both_families(tmp_path: Path) -> None:
    """The controller's view of the stack (Docker's attachments: IPv4 and IPv6 per network): a `to:`
    name becomes a leaf per address of that service on the link, a mix replica a leaf per address."""
    (tmp_path / "p.yaml").write_text(
        "description: x\ncore: {up: {to: {server: {delay: 30ms}}}}\n"
        "clients: {by: index, classes: [{name: far, replicas: '1', edge: {delay: 80ms}}]}\n")
    loaded = load(str(tmp_path / "p.yaml"))
    replica, replica6 = (str(ipaddress.ip_network(r)[4]) for r in (topology.IPAM_RANGES["edge"],
                                                                    topology.IPAM_RANGES6["edge"]))
    found = [targets.Attachment("p-client-1", "client", "edge", replica, 24, replica6),
             *(targets.Attachment(f"p-{svc}-1", svc, link, topology.ADDRESSES[(svc, link)], 24,
                                  topology.ADDRESSES6[(svc, link)])
               for svc, link in topology.ADDRESSES if svc != "client")]
    containers: dict[str, Any] = {"p-client-1": Labelled("1"), "p-proxy-1": Labelled(),
                                  "p-server-1": Labelled()}
    ends = [Target("p-proxy-1", link, direction, "eth0", object())  # type: ignore[arg-type]
            for link, direction in (("core", "up"), ("edge", "down"))]
    core_up, edge_down = dynamic.end_plans(loaded, ends, found, containers)
    assert [leaf.to for leaf in core_up.leaves] == [topology.ADDRESSES[("server", "core")],
                                                    topology.ADDRESSES6[("server", "core")]]
    assert [(leaf.to, leaf.imp.delay_us) for leaf in edge_down.leaves] == [(replica, 80_000),
                                                                           (replica6, 80_000)]


class RecordingReach:
    """A container reached by the controller: the shared statuses it reads, the stops it is asked for."""

    def __init__(self, name: str, found: list[dict[str, Any]], stops: list[str]) -> None:
        self.name, self.found, self.stops = name, found, stops

    def read_statuses(self) -> list[dict[str, Any]]:
        return self.found

    def stop_agent(self) -> None:
        self.stops.append(self.name)


def stack(hosts: dict[str, str]) -> dict[str, Any]:
    """Containers by name that mount the state, each with its hostname."""
    containers = {}
    for name, host in hosts.items():
        container = FakeContainer()
        container.name = name
        container.attrs["Config"]["Hostname"] = host
        container.attrs["Mounts"] = [{"Destination": dynamic.STATE_PATH}]
        containers[name] = container
    return containers


@pytest.mark.parametrize(("found", "stopped"), [
    ([], []),  # no agent ever ran (a static profile): no interpreter started anywhere
    ([{"host": "h-proxy", "phase": "stopped"}], []),
    ([{"host": "h-proxy", "phase": "replaying"}, {"host": "h-client", "phase": "stopped"}], ["proxy"]),
    ([{"host": "h-proxy", "phase": "running"}, {"host": "h-client", "phase": "failed"}], ["client", "proxy"]),
])
def test_agents_are_stopped_only_where_a_status_says_one_runs(
        monkeypatch: pytest.MonkeyPatch, found: list[dict[str, Any]], stopped: list[str]) -> None:
    stops: list[str] = []
    monkeypatch.setattr(dynamic, "reach", lambda container: RecordingReach(container.name, found, stops))
    dynamic.stop_agents(stack({"proxy": "h-proxy", "client": "h-client", "server": "h-server"}))
    assert sorted(stops) == stopped
