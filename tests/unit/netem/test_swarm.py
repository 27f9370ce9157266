"""`python -m netem --swarm STACK`: rolling updates in order, rollback of what was done, task views."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from netem.backends import swarm
from netem.commands.cli import main
from netem.core.engine import CommandResult
from netem.core.errors import ApplyError, ProfileError


class FakeDocker:
    """Answers the docker CLI calls the controller makes; `fail_update` makes one service's update fail."""

    def __init__(self, services: Sequence[str] = ("server", "proxy", "client"), fail_update: str = "",
                 rolled_back: bool = True) -> None:
        self.calls: list[list[str]] = []
        self.services = [f"st_{s}" for s in services]
        self.fail_update = f"st_{fail_update}" if fail_update else ""
        self.rolled_back = rolled_back

    def __call__(self, args: Sequence[str]) -> CommandResult:
        argv = list(args)
        self.calls.append(argv)
        if argv[:2] == ["stack", "services"]:
            return CommandResult(0, "\n".join(self.services) + "\n", "")
        if argv[:2] == ["service", "update"]:
            failed = argv[-1] == self.fail_update
            return CommandResult(1 if failed else 0, "", "task exited (78)" if failed else "")
        if argv[:2] == ["config", "inspect"]:
            return CommandResult(1, "", "Error: no such config")
        if argv[:2] == ["service", "inspect"]:
            state = "rollback_completed" if argv[-1] == self.fail_update and self.rolled_back else "completed"
            return CommandResult(0, json.dumps([{"UpdateStatus": {"State": state}}]), "")
        return CommandResult(0, "", "")

    def verbs(self) -> list[tuple[str, str]]:
        return [(c[1], c[-1]) for c in self.calls if c[0] == "service" and c[1] in ("update", "rollback")]


def test_update_argv_is_a_rolling_env_change() -> None:
    assert swarm.update_argv("st", "proxy", "4g") == [
        "service", "update", "--detach=false", "--quiet", "--env-add", "NETEM_PROFILE=4g", "st_proxy"]
    assert swarm.update_argv("st", "client", "4g") == [
        "service", "update", "--detach=true", "--quiet", "--env-add", "NETEM_PROFILE=4g",
        "--env-add", "CLIENT_PROFILE=4g", "st_client"]


def test_apply_rolls_server_then_proxy_then_reruns_the_client() -> None:
    fake = FakeDocker()
    assert swarm.apply(swarm.SwarmStack("st", fake), "rate-10mbit") == 0
    assert fake.verbs() == [("update", "st_server"), ("update", "st_proxy"), ("update", "st_client")]


def test_a_failed_update_rolls_back_the_services_already_updated() -> None:
    fake = FakeDocker(fail_update="proxy")
    with pytest.raises(ApplyError, match="st_proxy: update to NETEM_PROFILE=rate-10mbit failed"):
        swarm.apply(swarm.SwarmStack("st", fake), "rate-10mbit")
    # swarm rolled the proxy back itself (update_config failure_action); we undo the server; no client run
    assert fake.verbs() == [("update", "st_server"), ("update", "st_proxy"), ("rollback", "st_server")]


def test_an_update_rolled_back_by_swarm_counts_as_failed_even_with_exit_0() -> None:
    fake = FakeDocker(fail_update="server")
    fake.fail_update = ""  # the CLI said 0 …
    fake.rolled_back = True

    def inspect_says_rolled_back(args: Sequence[str]) -> CommandResult:
        if list(args[:2]) == ["service", "inspect"]:
            return CommandResult(0, json.dumps([{"UpdateStatus": {"State": "rollback_completed"}}]), "")
        return fake(args)

    with pytest.raises(ApplyError, match="rollback_completed"):
        swarm.apply(swarm.SwarmStack("st", inspect_says_rolled_back), "none")


def test_a_bad_profile_touches_nothing() -> None:
    fake = FakeDocker()
    with pytest.raises(ProfileError):
        swarm.apply(swarm.SwarmStack("st", fake), "no-such-profile")
    assert fake.calls == []


def test_parse_tasks_reads_profile_state_and_container() -> None:
    text = json.dumps([
        {"ID": "t1", "Slot": 1, "NodeID": "n1", "DesiredState": "running",
         "Spec": {"ContainerSpec": {"Env": ["NETEM_PROFILE=4g", "NETEM_SUBNETS=edge=10.0.1.0/24"]}},
         "Status": {"State": "running", "ContainerStatus": {"ContainerID": "c1"}}},
        {"ID": "t0abcdefghijklmn", "NodeID": "n2", "DesiredState": "shutdown",
         "Spec": {"ContainerSpec": {"Env": []}},
         "Status": {"State": "failed", "Err": "task: non-zero exit (78)"}},
    ])
    first, second = swarm.parse_tasks("proxy", text)
    assert (first.slot, first.state, first.profile, first.container_id) == ("1", "running", "4g", "c1")
    assert first.env["NETEM_SUBNETS"] == "edge=10.0.1.0/24"
    assert (second.slot, second.profile, second.error) == ("t0abcdefghij", "none", "task: non-zero exit (78)")


@pytest.mark.parametrize("argv", [
    ["--swarm", "st", "apply", "4g", "--link", "edge"],
    ["--swarm", "st", "show", "proxy"],
    ["--swarm", "st", "scenario", "run", "scenarios/x.yaml"],
])
def test_per_end_options_are_usage_errors_on_a_swarm(argv: list[str],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "usage error" in capsys.readouterr().err


def test_a_profile_file_travels_as_configs_with_its_traces(tmp_path: Path) -> None:
    (tmp_path / "cell.down").write_text("0\n10\n")
    (tmp_path / "cell.yaml").write_text("description: cell\nedge: {down: {trace: cell.down}}\n")
    fake = FakeDocker()
    assert swarm.apply(swarm.SwarmStack("st", fake), str(tmp_path / "cell.yaml"), now_ns=42) == 0
    created = [c for c in fake.calls if c[:2] == ["config", "create"]]
    assert [c[2].rsplit("_", 1)[1] for c in created] == ["0", "1"]  # cell.down, cell.yaml
    update = next(c for c in fake.calls if c[:2] == ["service", "update"] and c[-1] == "st_proxy")
    digest = created[0][2].split("_")[2]
    assert f"NETEM_PROFILE={swarm.CONFIG_DIR}/{digest}/cell.yaml" in update
    assert "NETEM_TRACE_EPOCH=42" in update
    assert f"source=st_netem_{digest}_1,target={swarm.CONFIG_DIR}/{digest}/cell.yaml,mode=0444" in update


def test_a_mix_gives_the_client_its_slot_and_a_shipped_profile_stays_a_name() -> None:
    shipped = swarm.Shipped("4g", mix=True)
    argv = swarm.update_argv("st", "client", "4g", shipped)
    assert "CLIENT_REPLICA_INDEX={{.Task.Slot}}" in argv and "--config-add" not in argv
