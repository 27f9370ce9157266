"""Which ends a profile shapes: qoslab's topology, or any service and network of any project."""

from __future__ import annotations

import ipaddress

import pytest

from netem import topology
from netem.core.errors import DiscoveryError
from netem.core.links import profile_link
from netem.core.targets import Attachment, Selection, select


def att(container: str, service: str, network: str, address: str) -> Attachment:
    return Attachment(container, service, network, address, 24)


def on(link: str, host: int) -> str:
    """Another address on a qoslab link (a service of the user's own on it)."""
    return str(ipaddress.ip_network(topology.SUBNETS[link])[host])


QOSLAB = [att(f"p-{svc}-1", svc, link, addr) for (svc, link), addr in topology.ADDRESSES.items()]
# A user's project: an API, a test runner and a database on compose's default network; the database
# also on a private `backend` network; the controller's own container is in the project too.
USER = [
    att("u-api-1", "api", "default", "172.20.0.2"), att("u-api-1", "api", "backend", "172.21.0.2"),
    att("u-tests-1", "tests", "default", "172.20.0.3"),
    att("u-db-1", "db", "backend", "172.21.0.3"),
    att("u-netem-run-1", "netem", "default", "172.20.0.9"),
]


def shaped(ends: list) -> list[tuple[str, str, str, str]]:  # type: ignore[type-arg]
    return [(e.attachment.container, e.attachment.network, e.link, e.direction) for e in ends]


def test_default_is_qoslabs_topology_with_egress_directions() -> None:
    ends, skipped = select(QOSLAB, Selection())
    assert sorted(shaped(ends)) == [
        ("p-client-1", "edge", "edge", "up"), ("p-proxy-1", "core", "core", "up"),
        ("p-proxy-1", "edge", "edge", "down"), ("p-server-1", "core", "core", "down")]
    assert skipped == []


def test_link_limits_the_topology_and_missing_services_are_noted() -> None:
    without_client = [a for a in QOSLAB if a.service != "client"]
    ends, skipped = select(without_client, Selection(link="edge"))
    assert shaped(ends) == [("p-proxy-1", "edge", "edge", "down")]
    assert skipped == ["client edge.up: no running client container on edge"]


def test_a_qoslab_service_keeps_its_role() -> None:
    ends, _ = select(QOSLAB, Selection(services=("proxy",), networks=("edge",)))
    assert shaped(ends) == [("p-proxy-1", "edge", "edge", "down"), ("p-client-1", "edge", "edge", "up")]
    ends, _ = select(QOSLAB, Selection(services=("server",)))
    assert shaped(ends) == [("p-server-1", "core", "core", "down"), ("p-proxy-1", "core", "core", "up")]


def test_another_service_on_a_qoslab_link_stands_in_for_its_outer_end() -> None:
    byo = [*QOSLAB, att("p-app-1", "app", "edge", on("edge", 20)),
           att("p-api-1", "api", "core", on("core", 30))]
    ends, _ = select(byo, Selection(services=("app",)))
    assert shaped(ends) == [("p-app-1", "edge", "edge", "up"), ("p-client-1", "edge", "edge", "up"),
                            ("p-proxy-1", "edge", "edge", "down")]
    ends, _ = select(byo, Selection(services=("api",), peers=("proxy",)))
    assert shaped(ends) == [("p-api-1", "core", "core", "down"), ("p-proxy-1", "core", "core", "up")]


def test_any_service_is_the_far_end_and_its_peers_the_near_end() -> None:
    ends, skipped = select(USER, Selection(services=("api",), networks=("default",)))
    assert shaped(ends) == [("u-api-1", "default", "edge", "down"), ("u-tests-1", "default", "edge", "up")]
    assert skipped == []  # the controller's own container is never a peer


def test_every_network_of_the_service_without_network() -> None:
    ends, _ = select(USER, Selection(services=("api",)))
    assert sorted(shaped(ends)) == [
        ("u-api-1", "backend", "edge", "down"), ("u-api-1", "default", "edge", "down"),
        ("u-db-1", "backend", "edge", "up"), ("u-tests-1", "default", "edge", "up")]


def test_peer_and_link_options() -> None:
    ends, _ = select(USER, Selection(services=("api",), peers=("db",), link="core"))
    assert sorted(shaped(ends)) == [
        ("u-api-1", "backend", "core", "down"), ("u-api-1", "default", "core", "down"),
        ("u-db-1", "backend", "core", "up")]


def test_a_service_alone_on_its_network_shapes_only_its_egress() -> None:
    lone = [att("u-api-1", "api", "default", "172.20.0.2")]
    ends, skipped = select(lone, Selection(services=("api",)))
    assert shaped(ends) == [("u-api-1", "default", "edge", "down")]
    assert skipped == ["api on default: no peer container; only api's egress is shaped"]


@pytest.mark.parametrize(("sel", "message"), [
    (Selection(services=("web",)), "no running container of service 'web'"),
    (Selection(services=("api",), networks=("front",)),
     "service 'api' is not on network(s) front (it is on backend, default)"),
    (Selection(services=("netem",)), "no running container of service 'netem'"),
])
def test_selection_errors_say_what_exists(sel: Selection, message: str) -> None:
    with pytest.raises(DiscoveryError) as info:
        select(USER, sel)
    assert message in str(info.value)


def test_profile_link_of_a_network() -> None:
    assert [profile_link(n, link) for n, link in [("edge", "all"), ("core", "edge"), ("default", "all"),
                                                  ("default", "core")]] == ["edge", "core", "edge", "core"]


def test_each_container_and_network_is_shaped_once() -> None:
    ends, _ = select(USER, Selection(services=("api", "db"), networks=("backend",)))
    assert shaped(ends) == [("u-api-1", "backend", "edge", "down"), ("u-db-1", "backend", "edge", "down")]


def test_network_or_peer_without_service_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    from netem.commands.cli import main

    with pytest.raises(SystemExit) as info:
        main(["apply", "3g", "--network", "default"])
    assert info.value.code == 2 and "--network and --peer need --service" in capsys.readouterr().err
