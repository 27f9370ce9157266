"""`python -m netem`: profiles, the controller for a running compose project, and scenarios.

    python -m netem list                         profiles with their description
    python -m netem validate FILE...             check profiles (exit 2 when one is invalid)
    python -m netem plan PROFILE [--link L] [--over P]  the tc commands apply would run (over P), dry
    python -m netem [--project P] show [SERVICE] what tc reports on each link end, with counters
    python -m netem [--project P] apply PROFILE [--link edge|core|all] [--no-calibrate] [--steps]
    python -m netem [--project P] clear [--link L]
    python -m netem [--project P] scenario run scenarios/NAME.yaml
    python -m netem --swarm STACK apply PROFILE | show | clear
                                                 a swarm stack: rolling service update (netem/swarm.py)
    python -m netem [--project P] capture edge|core [--service S] [--duration D | --count N]
                                  [--filter BPF] [-o FILE] [--via auto|host|container]
                                                 a pcap of one link end (host tcpdump, or a sidecar)

Any project, any service: apply|show|clear --project P --service S [--network N] [--peer S2] shape
the link(s) between S and its peers (docs/netem.md, "Any compose project"); `--project` may also follow
the command, as in `docker compose run --rm netem apply 3g --project P --service S`.

Exit 0 ok, 1 an apply/clear/run failed (links left as they were), 2 bad usage or invalid profile.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from netem.commands import record
from netem.core.errors import DiscoveryError, NetemError, SchemaError
from netem.core.links import LINK_CHOICES
from netem.core.plan import plan_lines
from netem.core.profile import available, load_profile
from netem.traces.load import load


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m netem", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", help="compose project (default: $COMPOSE_PROJECT_NAME, then the "
                                          "compose default for the current directory)")
    parser.add_argument("--swarm", metavar="STACK",
                        help="a Docker Swarm stack instead of a compose project (apply, show, clear)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list profiles")
    validate = sub.add_parser("validate", help="validate profile files")
    validate.add_argument("files", nargs="+")
    for name in ("plan", "apply"):
        cmd = sub.add_parser(name, help=f"{name} a profile")
        cmd.add_argument("profile", help="profile name or path")
        cmd.add_argument("--link", choices=LINK_CHOICES, default="all")
    sub.choices["plan"].add_argument("--over", metavar="PROFILE",
                                     help="the profile assumed in force (default: none, a fresh link)")
    apply = sub.choices["apply"]
    apply.add_argument("--no-calibrate", action="store_true", help="skip the probe burst after apply")
    apply.add_argument("--steps", action="store_true", help="stay and replay time-varying steps")
    show = sub.add_parser("show", help="show what is in force")
    show.add_argument("service", nargs="?", help="only this qoslab service's ends")
    clear = sub.add_parser("clear", help="remove impairments")
    clear.add_argument("--link", choices=LINK_CHOICES, default="all")
    for cmd in (apply, show, clear):
        _add_targeting(cmd)
    scenario = sub.add_parser("scenario", help="run a scenario matrix")
    scenario.add_argument("action", choices=("run",))
    scenario.add_argument("file")
    scenario.add_argument("--out", default="results", help="directory for CSV, report and plots")
    _add_project(scenario)
    _add_capture(sub.add_parser("capture", help="write a pcap of what crosses one link end"))
    record.add_parsers(sub)
    return parser


def _add_capture(capture: argparse.ArgumentParser) -> None:
    capture.add_argument("link", help="edge (client-proxy) or core (proxy-server)")
    capture.add_argument("--service", help="which end: client, proxy (default) or server")
    capture.add_argument("--duration", help="stop after this long (10s, 500ms, 2m)")
    capture.add_argument("--count", type=int, help="stop after this many packets")
    capture.add_argument("--filter", default="", help="BPF filter, e.g. 'udp port 9090'")
    capture.add_argument("--via", choices=("auto", "host", "container"), default="auto",
                         help="host: this host's tcpdump via nsenter (root); container: tcpdump in a "
                              "sidecar of the controller image (Docker only); auto: host where it can")
    capture.add_argument("-o", "--output", help="pcap file (default: results/captures/LINK-SIDE-TIME.pcap)")
    _add_project(capture)


def _add_project(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--project", default=argparse.SUPPRESS, help="compose project (also before the command)")


def _add_targeting(cmd: argparse.ArgumentParser) -> None:
    _add_project(cmd)
    cmd.add_argument("--service", dest="service_names", action="append", metavar="S",
                     help="shape the links of this compose service (repeatable); default: qoslab's topology")
    cmd.add_argument("--network", dest="networks", action="append", metavar="N",
                     help="only S's link on this compose network (repeatable); default: all of S's networks")
    cmd.add_argument("--peer", dest="peers", action="append", metavar="S2",
                     help="only these services as the other end of S's links (default: all on N)")
    cmd.add_argument("--helper-image", default=None, metavar="IMAGE",
                     help="image run in a target's network namespace when the target cannot run tc "
                          "itself (env NETEM_HELPER_IMAGE; default qoslab/netem:dev)")


def _capture(args: argparse.Namespace) -> int:
    import docker
    from netem.backends.docker_backend import REPO, resolve_project
    from netem.commands import capture, capture_run

    try:
        spec = capture.make_spec(args.link, args.service, args.duration, args.count, args.filter, args.output)
    except capture.CaptureError as exc:
        print(f"usage: {exc}", file=sys.stderr)
        return 2
    client = docker.from_env()  # type: ignore[attr-defined]
    try:
        project = resolve_project(client, args.project)
    finally:
        client.close()
    done = capture_run.run(project, spec, repo=REPO, via=args.via,
                           report=lambda line: print(line, file=sys.stderr, flush=True))
    print(done.path)
    print(f"{done.captured if done.captured is not None else '?'} packets captured, "
          f"{done.dropped if done.dropped is not None else '?'} dropped by the kernel", file=sys.stderr)
    return 0


def _validate(files: Sequence[str]) -> int:
    status = 0
    for name in files:
        try:
            loaded = load(name)
        except SchemaError as exc:  # the profile, or a trace or table file it names
            print(f"invalid: {exc}", file=sys.stderr)
            status = 2
            continue
        profile = loaded.profile
        kinds = sorted({k or "none" for k in profile.kinds().values()})
        print(f"ok: {profile.source}: {profile.name} (qdiscs: {', '.join(kinds)}; "
              f"steps: {len(profile.steps)}; traces: {len(loaded.schedules)})")
    return status


def _list() -> int:
    names = available()
    width = max((len(name) for name in names), default=0)
    for name in names:
        profile = load_profile(name)
        kinds = sorted({k for k in profile.kinds().values() if k})
        print(f"{name:<{width}} {', '.join(kinds) or '-':<18} {profile.description}")
    return 0


def _swarm(args: argparse.Namespace) -> int:
    from netem.backends import swarm

    if args.command not in ("apply", "show", "clear"):
        print(f"usage error: --swarm supports apply, show and clear, not {args.command}", file=sys.stderr)
        return 2
    per_end = ("service", "service_names", "networks", "peers")
    if getattr(args, "link", "all") != "all" or any(getattr(args, name, None) for name in per_end):
        print("usage error: on a swarm a profile goes to the whole stack (NETEM_PROFILE of every "
              "service); --link, --service, --network, --peer and SERVICE need a compose project",
              file=sys.stderr)
        return 2
    return swarm.run_command(args.swarm, args.command, getattr(args, "profile", "none"))


def _controller(args: argparse.Namespace) -> int:
    if args.swarm:
        return _swarm(args)
    from netem.commands import controller  # imports docker (through netem.backends.docker_backend)

    if args.command == "capture":
        return _capture(args)
    if args.command == "scenario":
        from netem.commands import scenario

        return scenario.run_file(args.file, project=args.project, out_dir=args.out)
    return controller.run_command(args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (getattr(args, "networks", None) or getattr(args, "peers", None)) and not args.service_names:
        parser.error("--network and --peer need --service")
    try:
        if args.command == "list":
            return _list()
        if args.command == "validate":
            return _validate(args.files)
        if args.command == "plan":
            over = load_profile(args.over) if args.over else None
            print("\n".join(plan_lines(load(args.profile).profile, args.link, over)))
            return 0
        if args.command == "record":
            return record.run_record(args)
        if args.command == "compare":
            return record.run_compare(args)
        return _controller(args)
    except SchemaError as exc:  # a profile or a scenario
        print(f"invalid {exc.what}: {exc}", file=sys.stderr)
        return 2
    except DiscoveryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except NetemError as exc:
        print(f"failed: {exc}", file=sys.stderr)
        return 1
