"""The controller's commands on a running compose project: `apply`, `show`, `clear` (`python -m netem`).

Targets come from the Docker backend (`netem.backends.docker_backend.discover`, with helper containers where a
target cannot run tc); applying, clearing and reading back go through `netem.core.engine`, the one apply path.
One key=value line per event on stdout.
"""

from __future__ import annotations

import argparse
import os
import time

import docker
from netem.backends.docker_backend import HELPER_IMAGE, REPO, Helpers, attachments, discover, resolve_project
from netem.commands import calibrate, dynamic, plans
from netem.core import targets
from netem.core.engine import Target, apply_ends, clear_targets, read_root
from netem.core.steps import replay_steps
from netem.tools.interrupt import interruptible
from netem.traces.load import Loaded, load
from services.common import log

EPOCH_LEAD_NS = 1_000_000_000  # every agent is running before the traces' t = 0


def _note_skipped(skipped: list[str]) -> None:
    for note in skipped:
        log.event("netem.skip", reason=note)


def selection(args: argparse.Namespace) -> targets.Selection:
    return targets.Selection(services=tuple(getattr(args, "service_names", None) or ()),
                             networks=tuple(getattr(args, "networks", None) or ()),
                             peers=tuple(getattr(args, "peers", None) or ()),
                             link=getattr(args, "link", "all"))


def apply_profile(project: str, name_or_path: str, helpers: Helpers,
                  sel: targets.Selection) -> tuple[Loaded, list[Target]]:
    """Apply a profile to the running ends, all or nothing; record it in the stack's state for containers
    started later; stop the old agents and start those the new profile needs. (`apply` and scenarios.)"""
    loaded = load(name_or_path)
    profile = loaded.profile
    found, skipped = discover(project, selection=sel, helpers=helpers)
    _note_skipped(skipped)
    attached, containers = attachments(helpers.client, project)
    end_plans = dynamic.end_plans(loaded, found, attached, containers)  # to: names must exist, first
    epoch_ns = time.time_ns() + EPOCH_LEAD_NS
    log.event("netem.apply", project=project, profile=profile.name, link=sel.link,
              targets=",".join(t.label for t in found), pending=len(skipped))
    dynamic.stop_agents(containers)
    own, leaves = plans.engine_args(end_plans, loaded, 0.0)  # a replica of a mix: its class's settings
    apply_ends(found, profile.ends, log=log.event, leaves=leaves, own=own)
    if not sel.services:
        kept_in = dynamic.write_in_force(containers, loaded, epoch_ns)
        if kept_in and profile.clients is not None:
            running = dynamic.replicas(attached, containers)
            dynamic.register(containers[kept_in], loaded, running, containers)
        agents = [p.target.service for p in end_plans if plans.needs_agent([p], profile)]
        dynamic.start_agents(containers, agents, epoch_ns)
    return loaded, found


def clear_profile(project: str, helpers: Helpers, sel: targets.Selection) -> int:
    """Stop the agents, remove the qdiscs, record `none` for containers started later; → ends cleared."""
    found, skipped = discover(project, selection=sel, helpers=helpers)
    _note_skipped(skipped)
    _, containers = attachments(helpers.client, project)
    dynamic.stop_agents(containers)
    clear_targets(found, log=log.event)
    if not sel.services and sel.link == "all":
        dynamic.write_in_force(containers, None, None)
    return len(found)


def cmd_apply(project: str, args: argparse.Namespace, helpers: Helpers) -> int:
    sel = selection(args)
    loaded, found = apply_profile(project, args.profile, helpers, sel)
    profile = loaded.profile
    if not args.no_calibrate and not sel.services:
        calibrate.report(calibrate.run(project, profile.name, REPO), log.event)
    if profile.steps and args.steps:
        try:
            with interruptible():  # Ctrl-C, `kill -INT` or `kill` ends the replay and clears
                replay_steps(found, profile, log=log.event)
        except KeyboardInterrupt:
            clear_targets(found, log=log.event)
            raise
    elif profile.steps:
        log.event("netem.steps", count=len(profile.steps), note="not replayed; add --steps to replay")
    log.event("netem.apply", profile=profile.name, result="applied")
    return 0


def cmd_show(project: str, args: argparse.Namespace, helpers: Helpers) -> int:
    found, skipped = discover(project, "all", args.service, selection=selection(args), helpers=helpers)
    _note_skipped(skipped)
    for target in found:
        state = read_root(target)
        fields = state.summary() if state else {"qdisc": "none"}
        log.event("netem.show", target=target.label, addresses=",".join(target.addresses) or None, **fields)
    _, containers = attachments(helpers.client, project)
    for status in dynamic.statuses(containers):  # traces being replayed: each change's lateness
        log.event("netem.replay", **{k: v for k, v in status.items() if k != "ends"},
                  ends=",".join(status.get("ends") or []))
    return 0


def cmd_clear(project: str, args: argparse.Namespace, helpers: Helpers) -> int:
    count = clear_profile(project, helpers, selection(args))
    log.event("netem.clear", project=project, link=args.link, result="cleared", targets=count)
    return 0


def run_command(args: argparse.Namespace) -> int:
    log.configure("netem")
    client = docker.from_env()  # type: ignore[attr-defined]
    try:
        project = resolve_project(client, args.project)
        commands = {"apply": cmd_apply, "show": cmd_show, "clear": cmd_clear}
        image = getattr(args, "helper_image", None) or os.environ.get("NETEM_HELPER_IMAGE") or HELPER_IMAGE
        with Helpers(client, image) as helpers:
            return commands[args.command](project, args, helpers)
    finally:
        client.close()  # its connection pool: the controller also runs in-process (tests, scripts)
