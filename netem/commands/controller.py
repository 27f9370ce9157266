"""The controller's commands on a running compose project: `apply`, `show`, `clear` (`python -m netem`).

Targets come from the Docker backend (`netem.backends.docker_backend.discover`, with helper containers where a
target cannot run tc); applying, clearing and reading back go through `netem.core.engine`, the one apply path.
One key=value line per event on stdout.
"""

from __future__ import annotations

import argparse
import os

import docker
from netem.backends.docker_backend import HELPER_IMAGE, REPO, Helpers, discover, resolve_project
from netem.commands import calibrate
from netem.core import targets
from netem.core.engine import apply_ends, clear_targets, read_root
from netem.core.profile import load_profile
from netem.core.steps import replay_steps
from services.common import log


def _note_skipped(skipped: list[str]) -> None:
    for note in skipped:
        log.event("netem.skip", reason=note)


def selection(args: argparse.Namespace) -> targets.Selection:
    return targets.Selection(services=tuple(getattr(args, "service_names", None) or ()),
                             networks=tuple(getattr(args, "networks", None) or ()),
                             peers=tuple(getattr(args, "peers", None) or ()),
                             link=getattr(args, "link", "all"))


def cmd_apply(project: str, args: argparse.Namespace, helpers: Helpers) -> int:
    profile = load_profile(args.profile)
    sel = selection(args)
    found, skipped = discover(project, selection=sel, helpers=helpers)
    _note_skipped(skipped)
    log.event("netem.apply", project=project, profile=profile.name, link=args.link,
              targets=",".join(t.label for t in found))
    apply_ends(found, profile.ends, log=log.event)
    if not args.no_calibrate and not sel.services:
        calibrate.report(calibrate.run(project, profile.name, REPO), log.event)
    if profile.steps and args.steps:
        try:
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
    return 0


def cmd_clear(project: str, args: argparse.Namespace, helpers: Helpers) -> int:
    found, skipped = discover(project, selection=selection(args), helpers=helpers)
    _note_skipped(skipped)
    clear_targets(found, log=log.event)
    log.event("netem.clear", project=project, link=args.link, result="cleared", targets=len(found))
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
