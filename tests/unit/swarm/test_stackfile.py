"""The stack file generated from compose.yaml: what swarm refuses is gone, one source for the rest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from netem import topology
from services.client.results import COLUMNS
from swarm.cli import main
from swarm.results import new_rows, rows_from_log
from swarm.stackfile import StackFileError, StackOptions, merge, stack_document

REPO = Path(__file__).resolve().parents[3]
PROXY_HTTP = topology.port("proxy", "http")


def _load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((REPO / name).read_text(encoding="utf-8"))
    return doc


def _stack(options: StackOptions | None = None) -> dict[str, Any]:
    return stack_document(_load("compose.yaml"), _load("compose.swarm.yaml"), options or StackOptions())


def test_what_swarm_refuses_is_removed() -> None:
    doc = _stack()
    for name, service in doc["services"].items():
        assert not {"build", "depends_on", "container_name", "ports"} & set(service), name
        assert isinstance(service["networks"], list), name  # no ipv4_address anywhere
    assert "ipv4_address" not in json.dumps(doc) and "ipv6_address" not in json.dumps(doc)
    # compose file v3 (the stack schema) has no enable_ipv6; the overlays keep their IPv4 subnets only
    assert not [net for net in doc["networks"].values() if "enable_ipv6" in net]
    assert not [key for key in doc if key.startswith("x-")]


def test_compose_stays_the_source_of_services_environment_and_subnets() -> None:
    compose, doc = _load("compose.yaml"), _stack()
    started = {name for name, svc in compose["services"].items() if not svc.get("profiles")}
    assert set(doc["services"]) == started == {"client", "proxy", "server"}  # not the tools (profiles)
    for name, service in compose["services"].items():
        if name not in started:
            continue
        swarm = doc["services"][name]
        assert swarm["image"] == service["image"] and swarm["cap_add"] == ["NET_ADMIN"]
        assert swarm.get("healthcheck") == service.get("healthcheck")
        assert set(service["environment"]) <= set(swarm["environment"])
        assert swarm["networks"] == list(service["networks"])
    for link in ("edge", "core"):
        subnets = [{"subnet": c["subnet"]} for c in compose["networks"][link]["ipam"]["config"]
                   if ":" not in c["subnet"]]
        assert doc["networks"][link]["ipam"] == {"config": subnets}  # ip_range: not in the stack schema
        assert subnets == [{"subnet": topology.SUBNETS[link]}]
        assert doc["networks"][link]["driver"] == "overlay"


def test_swarm_settings_placement_job_and_clock() -> None:
    services = _stack()["services"]
    for name in ("client", "proxy", "server"):
        assert services[name]["deploy"]["placement"]["constraints"] == [
            f"node.labels.qoslab.role == ${{QOSLAB_{name.upper()}_ON:-{name}}}"]
    client = services["client"]
    assert client["deploy"]["mode"] == "replicated-job"
    assert client["deploy"]["replicas"] == "${QOSLAB_CLIENTS:-1}"
    assert client["deploy"]["restart_policy"] == {"condition": "none"}
    assert client["environment"]["CLIENT_SAME_CLOCK"] == "${QOSLAB_SAME_CLOCK:-false}"
    assert client["command"] == ["suite", "--json"]
    assert services["server"]["deploy"]["update_config"]["failure_action"] == "rollback"
    assert services["proxy"]["deploy"]["endpoint_mode"] == "dnsrr"


def test_options_registry_no_placement_publish() -> None:
    doc = _stack(StackOptions(registry="10.9.9.9:5000/", placement=False, publish=True))
    assert doc["services"]["server"]["image"] == "10.9.9.9:5000/qoslab/server:dev"
    assert all("placement" not in svc.get("deploy", {}) for svc in doc["services"].values())
    assert doc["services"]["proxy"]["ports"] == [
        {"target": PROXY_HTTP, "published": f"${{PROXY_PUBLISH_PORT:-{PROXY_HTTP}}}", "protocol": "tcp",
         "mode": "host"}]


def test_merge_rules() -> None:
    base = {"a": {"b": 1, "c": [1]}, "d": 2}
    assert merge(base, {"a": {"c": [2], "e": 3}, "d": None}) == {"a": {"b": 1, "c": [2], "e": 3}}
    assert base == {"a": {"b": 1, "c": [1]}, "d": 2}  # inputs untouched


def test_overlay_naming_an_unknown_service_is_an_error() -> None:
    with pytest.raises(StackFileError, match=r"not in compose\.yaml: cleint"):
        stack_document(_load("compose.yaml"), {"services": {"cleint": {}}})


def test_cli_writes_a_file_and_reports_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "stack.yaml"
    assert main(["stackfile", "--no-placement", "-o", str(out)]) == 0
    assert yaml.safe_load(out.read_text())["services"]["client"]["deploy"]["mode"] == "replicated-job"
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    assert main(["stackfile", "--compose", str(bad)]) == 2
    assert "expected a mapping" in capsys.readouterr().err


def test_rows_from_task_logs() -> None:
    row = {"run_id": "abc", "kind": "qos", "ok": True, "owd_clock": "relative"}
    lines = ["ts=… svc=netem event=netem.boot profile=none",
             f"qoslab_client.1.x@node1    | {json.dumps({'config': {}, 'result': row})}",
             '{"not": "a row"}', "{broken json"]
    assert rows_from_log(lines) == [row]
    assert set(row) <= set(COLUMNS)


def test_collecting_twice_adds_nothing() -> None:
    rows = [{"run_id": "a", "kind": "qos", "timestamp_utc": "t1"}, {"run_id": "a", "kind": "load",
                                                                    "timestamp_utc": "t2"}]
    assert new_rows(rows, [{"run_id": "a", "kind": "qos", "timestamp_utc": "t1"}]) == rows[1:]
