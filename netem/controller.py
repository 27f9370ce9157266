"""The controller's commands on a running compose project: `apply`, `show`, `clear` (`python -m netem`).

Targets come from the Docker backend (`netem.docker_backend.discover`); applying, clearing and reading
back go through `netem.engine`, the one apply path. One key=value line per event on stdout.
"""

from __future__ import annotations

import argparse

from netem import calibrate
from netem.docker_backend import REPO, default_project, discover
from netem.engine import apply_ends, clear_targets, read_root
from netem.profile import load_profile
from netem.steps import replay_steps
from services.common import log


def _note_skipped(skipped: list[str]) -> None:
    for note in skipped:
        log.event("netem.skip", reason=note)


def cmd_apply(project: str, args: argparse.Namespace) -> int:
    profile = load_profile(args.profile)
    targets, skipped = discover(project, args.link)
    _note_skipped(skipped)
    log.event("netem.apply", project=project, profile=profile.name, link=args.link,
              targets=",".join(t.label for t in targets))
    apply_ends(targets, profile.ends, log=log.event)
    if not args.no_calibrate:
        calibrate.report(calibrate.run(project, profile.name, REPO), log.event)
    if profile.steps and args.steps:
        try:
            replay_steps(targets, profile, log=log.event)
        except KeyboardInterrupt:
            clear_targets(targets, log=log.event)
            raise
    elif profile.steps:
        log.event("netem.steps", count=len(profile.steps), note="not replayed; add --steps to replay")
    log.event("netem.apply", profile=profile.name, result="applied")
    return 0


def cmd_show(project: str, service: str | None) -> int:
    targets, skipped = discover(project, "all", service)
    _note_skipped(skipped)
    for target in targets:
        state = read_root(target)
        fields = state.summary() if state else {"qdisc": "none"}
        log.event("netem.show", target=target.label, **fields)
    return 0


def cmd_clear(project: str, link: str) -> int:
    targets, skipped = discover(project, link)
    _note_skipped(skipped)
    clear_targets(targets, log=log.event)
    log.event("netem.clear", project=project, link=link, result="cleared", targets=len(targets))
    return 0


def run_command(args: argparse.Namespace) -> int:
    log.configure("netem")
    project = args.project or default_project()
    if args.command == "apply":
        return cmd_apply(project, args)
    if args.command == "show":
        return cmd_show(project, args.service)
    return cmd_clear(project, args.link)
