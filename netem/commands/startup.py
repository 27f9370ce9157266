"""Container start: `python -m netem.commands.startup` applies NETEM_PROFILE to this container's link ends.

Runs as root before the service starts (docker/entrypoint.sh). Environment:
  NETEM_PROFILE   profile name (from netem/profiles) or a path; empty, unset or `none` → do nothing
  QOSLAB_SERVICE  client | proxy | server (which ends of which links are ours)
  NETEM_SUBNETS   `edge=10.203.1.0/24,core=10.203.2.0/24` (interfaces are found by address)
Exit 0 applied (or nothing to do), 1 could not apply (nothing left half-applied), 2 bad configuration.
A profile with steps starts a background replayer (`--replay-steps`) that runs `tc qdisc change`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence

from netem import topology
from netem.backends.local import LocalRunner
from netem.core.engine import Runner, apply_ends
from netem.core.errors import ApplyError, DiscoveryError, NetemError, ProfileError
from netem.core.links import find_targets
from netem.core.profile import load_profile
from netem.core.steps import replay_steps
from services.common import log


def _spawn_replayer(env: Mapping[str, str]) -> int:
    child = subprocess.Popen([sys.executable, "-m", "netem.commands.startup", "--replay-steps"],
                             env=dict(env), start_new_session=True, stdin=subprocess.DEVNULL)
    return child.pid


def run(env: Mapping[str, str], runner: Runner, *, replay: bool = False) -> int:
    name = env.get("NETEM_PROFILE", "").strip()
    service = env.get("QOSLAB_SERVICE", "").strip()
    if name in ("", "none"):
        log.event("netem.startup", profile=name or "unset", service=service or "-", action="skip")
        return 0
    profile = load_profile(name)
    targets = find_targets(service, env.get("NETEM_SUBNETS") or topology.SUBNETS_TEXT, runner)
    if replay:
        replay_steps(targets, profile, log=log.event)
        return 0
    log.event("netem.startup", profile=profile.name, service=service,
              targets=",".join(t.label for t in targets), action="apply")
    apply_ends(targets, profile.ends, log=log.event)
    if profile.steps:
        pid = _spawn_replayer(env)
        log.event("netem.startup", profile=profile.name, steps=len(profile.steps), replayer_pid=pid)
    log.event("netem.startup", profile=profile.name, service=service, action="done", result="applied")
    return 0


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None,
         runner: Runner | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    log.configure("netem")
    try:
        return run(os.environ if env is None else env, runner or LocalRunner(),
                   replay="--replay-steps" in args)
    except (ProfileError, DiscoveryError) as exc:
        log.event("netem.startup", action="failed", result="bad-config", error=str(exc))
        print(f"netem.startup: {exc}", file=sys.stderr)
        return 2
    except (ApplyError, NetemError) as exc:
        log.event("netem.startup", action="failed", result="not-applied", error=str(exc))
        print(f"netem.startup: cannot apply NETEM_PROFILE: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
