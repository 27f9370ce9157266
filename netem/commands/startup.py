"""Container start: `python -m netem.commands.startup` shapes this container's link ends.

Runs as root before the service starts (docker/entrypoint.sh). Environment:
  NETEM_PROFILE   profile name (from netem/profiles) or a path; empty, unset or `none` → do nothing
  QOSLAB_SERVICE  client | proxy | server (which ends of which links are ours)
  NETEM_SUBNETS   `edge=10.203.1.0/24,edge=fd00:203:1::/64,…` (interfaces are found by address, IPv4 or
                  IPv6; a link once per family)
  NETEM_STATE_DIR the stack's shared netem state (/run/qoslab/netem): what the controller applied last
                  wins over NETEM_PROFILE, so a container started after `apply` follows it
  NETEM_ENV_FILE  where the profile and condition chosen are written for the entrypoint to export
                  (CLIENT_PROFILE, CLIENT_CONDITION: the client's rows name them)
Exit 0 applied (or nothing to do), 1 could not apply (nothing left half-applied), 2 bad configuration.
A profile with steps starts a background replayer (`--replay-steps`, `tc qdisc change`); one with traces,
recorded tables or a client mix starts the netem agent (`netem.commands.agent`, netlink).
"""

from __future__ import annotations

import ipaddress
import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from netem import topology
from netem.backends.local import LocalRunner
from netem.commands import plans, situation, state
from netem.core.clients import ClientClass
from netem.core.engine import Runner, apply_ends
from netem.core.errors import ApplyError, DiscoveryError, NetemError, ProfileError
from netem.core.links import find_targets, link_addresses, parse_subnets, read_addresses
from netem.core.steps import replay_steps
from netem.traces.errors import TraceError
from services.common import log

ENV_FILE = "NETEM_ENV_FILE"
DEFAULT_ENV_FILE = "/tmp/qoslab-netem.env"
READY_TIMEOUT_S = 60.0


def _spawn(env: Mapping[str, str], module: str, *args: str) -> int:
    child = subprocess.Popen([sys.executable, "-m", module, *args], env=dict(env), start_new_session=True,
                             stdin=subprocess.DEVNULL)
    return child.pid


def _edge_addresses(runner: Runner, subnets_text: str) -> tuple[str, str]:
    """This container's addresses on edge, (IPv4, IPv6) on a dual-stack edge or (the one, "") on a single
    family's (a client replica registers them for the proxy's leaves: both families are shaped)."""
    networks = parse_subnets(subnets_text)["edge"]
    found = [address for addresses in read_addresses(runner, "client").values()
             for address in link_addresses(addresses, networks)]
    if not found:
        raise DiscoveryError(f"client: no address in {', '.join(map(str, networks))}")
    v4 = [a for a in found if ipaddress.ip_address(a).version == 4]
    v6 = [a for a in found if ipaddress.ip_address(a).version == 6]
    return (v4[0], v6[0] if v6 else "") if v4 else (v6[0], "")


def _client_class(env: Mapping[str, str], sit: situation.Situation, runner: Runner,
                  subnets_text: str) -> tuple[ClientClass | None, state.Registration | None]:
    """A client replica of a mix: its class, and its registration for the proxy (written here)."""
    profile = sit.loaded.profile if sit.loaded else None
    if profile is None or profile.clients is None:
        return None, None
    address, address6 = _edge_addresses(runner, subnets_text)
    host = socket.gethostname()
    index, how = situation.replica_index(env, address, host)
    cls = plans.replica_class(profile, index)
    reg = state.Registration(host, address, index, cls.name if cls else "", time.time_ns(), address6)
    log.event("netem.replica", host=host, address=address, address6=address6 or None, index=index,
              found_by=how, condition=reg.condition or "-")
    return cls, reg


def _write_env(env: Mapping[str, str], values: Mapping[str, str]) -> None:
    path = Path(env.get(ENV_FILE) or DEFAULT_ENV_FILE)
    try:
        path.write_text("".join(f"{key}={shlex.quote(value)}\n" for key, value in values.items()),
                        encoding="utf-8")
    except OSError as exc:
        log.event("netem.startup", env_file=str(path), result="not written", error=str(exc))


def _proxy_agents(root: Path, epoch_ns: int) -> list[dict[str, object]]:
    """The statuses of the proxy's agents of the profile in force (those of earlier profiles stay behind)."""
    found = state.statuses(root) if root.is_dir() else []
    return [s for s in found if s.get("service") == "proxy" and s.get("epoch_ns") == epoch_ns]


Clock = Callable[[], float]


def _await_leaf(root: Path, reg: state.Registration, epoch_ns: int,
                sleep: Callable[[float], None] = time.sleep, clock: Clock = time.monotonic) -> None:
    """Wait until the proxy's agent has this replica's leaf (its edge.down), so nothing runs unshaped.

    Only where the proxy shares this state (compose, one host): a swarm's proxy on another node finds
    the replica by its DNS name instead, and nothing here can see when."""
    if not _proxy_agents(root, epoch_ns):
        log.event("netem.replica", host=reg.host, proxy_leaf="not awaited",
                  reason="no proxy agent of this profile in this state (another node): it finds replicas "
                         "by DNS")
        return
    deadline = clock() + READY_TIMEOUT_S
    while clock() < deadline:
        if state.is_ready(root, reg.host):
            log.event("netem.replica", host=reg.host, proxy_leaf="ready")
            return
        failed = [s for s in _proxy_agents(root, epoch_ns) if s.get("phase") in ("failed", "stopped")]
        if failed:
            raise ApplyError(f"the proxy's netem agent {failed[0].get('phase')} before adding a leaf for "
                             f"{reg.address}: {failed[0].get('error') or 'see its log'}")
        sleep(0.1)
    raise ApplyError(f"the proxy did not add a leaf for {reg.address} within {READY_TIMEOUT_S:g}s "
                     "(is the proxy's netem agent running? docker compose logs proxy)")


def run(env: Mapping[str, str], runner: Runner, *, replay: bool = False) -> int:
    service = env.get("QOSLAB_SERVICE", "").strip()
    root = state.state_dir(env)
    sit = situation.situation(env, root)
    if sit.loaded is None:
        log.event("netem.startup", profile=sit.name, service=service or "-", source=sit.source, action="skip")
        _write_env(env, {"CLIENT_PROFILE": sit.name})
        return 0
    profile = sit.loaded.profile
    subnets_text = env.get("NETEM_SUBNETS") or topology.SUBNETS_TEXT
    targets = find_targets(service, subnets_text, runner)
    if replay:
        replay_steps(targets, profile, log=log.event)
        return 0
    own_class, reg = _client_class(env, sit, runner, subnets_text) if service == "client" else (None, None)
    end_plans = situation.container_plans(sit, targets, subnets_text, own_class, root)
    own, leaves = plans.engine_args(end_plans, sit.loaded, max(time.time_ns() - sit.epoch_ns, 0) / 1e9)
    log.event("netem.startup", profile=sit.name, service=service, source=sit.source,
              targets=",".join(t.label for t in targets), action="apply")
    apply_ends(targets, profile.ends, log=log.event, leaves=leaves, own=own)
    if profile.steps:
        pid = _spawn(env, "netem.commands.startup", "--replay-steps")
        log.event("netem.startup", profile=sit.name, steps=len(profile.steps), replayer_pid=pid)
    agent_env = {**env, situation.EPOCH_ENV: str(sit.epoch_ns)}
    if reg is not None:
        state.register_client(root, reg)
    if plans.needs_agent(end_plans, profile):
        pid = _spawn(agent_env, "netem.commands.agent")
        log.event("netem.startup", profile=sit.name, agent_pid=pid, epoch_ns=sit.epoch_ns)
    if reg is not None:
        _await_leaf(root, reg, sit.epoch_ns)
    _write_env(env, {"CLIENT_PROFILE": sit.name, "CLIENT_CONDITION": reg.condition if reg else ""})
    log.event("netem.startup", profile=sit.name, service=service, action="done", result="applied")
    return 0


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None,
         runner: Runner | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    log.configure("netem")
    try:
        return run(os.environ if env is None else env, runner or LocalRunner(),
                   replay="--replay-steps" in args)
    except (ProfileError, DiscoveryError, TraceError) as exc:
        log.event("netem.startup", action="failed", result="bad-config", error=str(exc))
        print(f"netem.startup: {exc}", file=sys.stderr)
        return 2
    except (ApplyError, NetemError) as exc:
        log.event("netem.startup", action="failed", result="not-applied", error=str(exc))
        print(f"netem.startup: cannot apply NETEM_PROFILE: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
