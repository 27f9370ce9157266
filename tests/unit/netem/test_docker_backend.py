"""The Docker backend against a fake Docker client: exec vs helper containers, cleanup, rollback."""

from __future__ import annotations

import argparse
import builtins
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from netem.backends import docker_backend
from netem.commands import controller
from netem.core.engine import apply_ends
from netem.core.errors import ApplyError, DiscoveryError
from netem.core.profile import load_profile
from netem.core.targets import Selection
from tests.unit.netem.conftest import FakeTc


@dataclass
class FakeContainer:
    """A container whose network namespace is a FakeTc; exec_run reaches it only with tc inside."""

    name: str
    service: str
    networks: dict[str, tuple[str, int]]
    netns: FakeTc
    has_tc: bool = True
    caps: tuple[str, ...] = ("NET_ADMIN",)
    id: str = ""
    removed: bool = False
    execs: list[list[str]] = field(default_factory=list)

    @property
    def labels(self) -> dict[str, str]:
        return {docker_backend.PROJECT_LABEL: "proj", docker_backend.SERVICE_LABEL: self.service}

    @property
    def attrs(self) -> dict[str, Any]:
        nets = {f"proj_{n}": {"IPAddress": ip, "IPPrefixLen": plen}
                for n, (ip, plen) in self.networks.items()}
        return {"HostConfig": {"CapAdd": list(self.caps)}, "NetworkSettings": {"Networks": nets}}

    def exec_run(self, argv: Sequence[str], user: str = "", demux: bool = False) -> tuple[int, Any]:
        self.execs.append(list(argv))
        if not self.has_tc:
            message = b'OCI runtime exec failed: exec: "tc": executable file not found in $PATH'
            return 126, ((message, None) if demux else message)
        if list(argv) == ["tc", "-V"]:
            return 0, ((b"tc utility, iproute2-6.1.0\n", None) if demux else b"tc utility, iproute2-6.1.0\n")
        done = self.netns.run(argv)
        out, err = done.stdout.encode(), done.stderr.encode()
        return done.returncode, ((out, err) if demux else out + err)

    def remove(self, force: bool = False) -> None:
        self.removed = True


@dataclass
class FakeNetwork:
    name: str
    attrs: dict[str, Any]


class FakeDocker:
    """The engine's state: the project's containers, the local images, the helpers started."""

    def __init__(self, containers: list[FakeContainer], images: tuple[str, ...] = ("qoslab/netem:dev",)):
        self.listed = containers
        self.images = images
        self.helpers: list[tuple[FakeContainer, dict[str, Any]]] = []

    def run(self, image: str, command: list[str], **kwargs: Any) -> FakeContainer:
        import docker

        if image not in self.images:
            raise docker.errors.ImageNotFound(f"No such image: {image}")
        target = next(c for c in self.listed if kwargs["network_mode"] == f"container:{c.id}")
        helper = FakeContainer(f"helper-{target.name}", "", {}, target.netns)  # shares the target's netns
        self.helpers.append((helper, kwargs))
        return helper


class Client:
    """containers.list / networks.list / containers.run as the Docker SDK has them."""

    def __init__(self, containers: list[FakeContainer], images: tuple[str, ...] = ("qoslab/netem:dev",)):
        self.fake = FakeDocker(containers, images)
        self.containers = _Containers(self.fake)
        self.networks = _Networks([FakeNetwork(f"proj_{n}", {"Labels": {docker_backend.NETWORK_LABEL: n}})
                                   for n in ("default", "edge", "core")])


@dataclass
class _Containers:
    fake: FakeDocker

    def list(self, filters: dict[str, str]) -> builtins.list[FakeContainer]:
        assert filters == {"label": f"{docker_backend.PROJECT_LABEL}=proj"}
        return self.fake.listed

    def run(self, image: str, command: builtins.list[str], **kwargs: Any) -> FakeContainer:
        return self.fake.run(image, command, **kwargs)


@dataclass
class _Networks:
    items: list[FakeNetwork]

    def list(self, filters: dict[str, str]) -> list[FakeNetwork]:
        return self.items


def user_project(api_tc: FakeTc, tests_tc: FakeTc) -> list[FakeContainer]:
    """A stand-in user service without tc or NET_ADMIN, and a qoslab-style peer that has both."""
    api = FakeContainer("proj-api-1", "api", {"default": ("172.20.0.2", 16)}, api_tc, has_tc=False, caps=(),
                        id="a1")
    tests = FakeContainer("proj-tests-1", "tests", {"default": ("172.20.0.3", 16)}, tests_tc, id="t1")
    return [api, tests]


def netns(ip: str) -> FakeTc:
    return FakeTc(addrs={"lo": ["127.0.0.1"], "eth0": [ip]})


def test_a_container_without_tc_is_shaped_from_a_helper_in_its_namespace() -> None:
    api_ns, tests_ns = netns("172.20.0.2"), netns("172.20.0.3")
    client = Client(user_project(api_ns, tests_ns))
    profile = load_profile("rate-10mbit")
    with docker_backend.Helpers(client, "qoslab/netem:dev") as helpers:
        found, _ = docker_backend.discover("proj", selection=Selection(services=("api",)),
                                  helpers=helpers)
        apply_ends(found, profile.ends)
    assert [t.label for t in found] == ["proj-api-1:eth0 (edge.down)", "proj-tests-1:eth0 (edge.up)"]
    assert api_ns.roots["eth0"][0] == "tbf" and tests_ns.roots["eth0"][0] == "tbf"
    [(helper, kwargs)] = client.fake.helpers
    assert kwargs["network_mode"] == "container:a1" and kwargs["cap_add"] == ["NET_ADMIN"]
    assert helper.removed  # the helper goes, the qdisc stays in the target's namespace
    assert client.fake.listed[0].execs == []  # nothing runs inside the user's container
    assert client.fake.listed[1].execs[0] == ["tc", "-V"]


def test_a_failed_apply_rolls_back_through_the_helper_then_removes_it() -> None:
    api_ns, tests_ns = netns("172.20.0.2"), netns("172.20.0.3")
    tests_ns.fail_devs.add("eth0")
    client = Client(user_project(api_ns, tests_ns))
    with pytest.raises(ApplyError, match="Operation not permitted"), \
            docker_backend.Helpers(client) as helpers:
        found, _ = docker_backend.discover("proj", selection=Selection(services=("api",)),
                                  helpers=helpers)
        apply_ends(found, load_profile("rate-10mbit").ends)
    assert api_ns.roots == {} and tests_ns.roots == {}
    assert all(helper.removed for helper, _ in client.fake.helpers)


def test_missing_helper_image_says_how_to_build_it() -> None:
    client = Client(user_project(netns("172.20.0.2"), netns("172.20.0.3")), images=())
    with pytest.raises(DiscoveryError, match=r"helper image 'qoslab/netem:dev' is missing: build it"), \
            docker_backend.Helpers(client) as helpers:
        docker_backend.discover("proj", selection=Selection(services=("api",)), helpers=helpers)


def test_without_helpers_only_containers_that_run_tc_are_targets() -> None:
    client = Client(user_project(netns("172.20.0.2"), netns("172.20.0.3")))
    with pytest.raises(DiscoveryError, match="cannot run tc inside"):
        docker_backend.discover("proj", selection=Selection(services=("api",)), client=client)


def test_commands_shape_show_and_clear_any_service(capsys: pytest.CaptureFixture[str]) -> None:
    api_ns, tests_ns = netns("172.20.0.2"), netns("172.20.0.3")
    client = Client(user_project(api_ns, tests_ns))
    args = argparse.Namespace(profile="rate-10mbit", link="all", no_calibrate=False, steps=False,
                              service_names=["api"], networks=["default"], peers=None, service=None)
    with docker_backend.Helpers(client) as helpers:
        assert controller.cmd_apply("proj", args, helpers) == 0  # no calibration burst for a foreign service
        assert controller.cmd_show("proj", args, helpers) == 0
    assert api_ns.roots["eth0"][0] == "tbf"
    shown = [line for line in capsys.readouterr().out.splitlines() if "event=netem.show" in line]
    assert len(shown) == 2 and all("qdisc=tbf" in line for line in shown)
    with docker_backend.Helpers(client) as helpers:
        assert controller.cmd_clear("proj", args, helpers) == 0
    assert api_ns.roots == {} and tests_ns.roots == {}


def test_in_a_container_the_default_project_is_its_own(tmp_path: Path) -> None:
    from docker.errors import NotFound

    class Containers:
        def get(self, name: str) -> Any:
            if name != "c0ffee":
                raise NotFound(name)
            return FakeContainer("proj-netem-run-1", "netem", {}, FakeTc())

    client = argparse.Namespace(containers=Containers())
    marker = tmp_path / ".dockerenv"
    assert docker_backend.own_project(client, marker, "c0ffee") is None  # not in a container
    marker.touch()
    assert docker_backend.own_project(client, marker, "c0ffee") == "proj"
    assert docker_backend.own_project(client, marker, "other") is None
