"""`python -m netem.vm build | run [--docker] -- CMD… | compose -- ARGS… | fidelity | scenario FILE`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from netem.core.errors import NetemError
from netem.tools.interrupt import interruptible
from netem.vm.errors import VmError
from netem.vm.host import boot, build, compose, dockerdisk, initscript, scenario
from netem.vm.host.cache import cache_dir, repo_root

FIDELITY_CMD = ["python3", "-m", "netem.vm.guest.fidelity"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m netem.vm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="build (or reuse) the VM image from this checkout")
    for name, text in (("run", "boot the VM and run CMD inside; exit with its code"),
                       ("fidelity", "run the netem fidelity suite inside the VM"),
                       ("compose", "run `docker compose ARGS` on this checkout inside the VM; result rows "
                                   "are appended to the host's results directory; exit with compose's code")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--timeout", type=float, default=600.0, help="seconds before qemu is killed")
        cmd.add_argument("--env", action="append", default=[], metavar="K=V", help="environment in the VM")
        if name != "fidelity":
            if name == "run":
                cmd.add_argument("--docker", action="store_true",
                                 help="start Docker in the VM first, with this checkout's images loaded")
                cmd.add_argument("--tests", action="store_true",
                                 help="also carry the checkout's tests/ into the VM (to run the test suite)")
            cmd.add_argument("--no-build", action="store_true",
                             help="use the images on the host as they are (no `docker compose build`)")
        cmd.add_argument("argv", nargs="*", metavar="CMD", help="command (after --) and its arguments")
    cmd = sub.add_parser("scenario", help="run a scenario's matrix inside the VM; the report on the host")
    cmd.add_argument("path", metavar="FILE", help="scenarios/NAME.yaml")
    cmd.add_argument("--out", default="results", help="report directory (default: results)")
    cmd.add_argument("--timeout", type=float, default=600.0, help="seconds before qemu is killed")
    return parser


def _scenario(args: argparse.Namespace, log: build.Log) -> int:
    loaded, spec = scenario.spec_for(args.path)  # an invalid scenario or profile stops before the build
    image = build.build(log=log)
    code, written = scenario.run(image, loaded, spec, Path(args.out), timeout_s=args.timeout)
    print("\n".join(str(p) for p in written))
    return code


def _run_with_docker(image: build.Image, command: Sequence[str], env: dict[str, str],
                     timeout_s: float) -> boot.BootResult:
    """`run --docker`: the Docker disk attached copy-on-write and dockerd up before CMD."""
    images = dockerdisk.compose_images(dockerdisk.load_compose(repo_root()))
    disk = dockerdisk.data_disk(image, images, cache_dir(), _log)
    return boot.run(image, [], timeout_s=timeout_s, drives=(boot.Drive(disk, snapshot=True),),
                    script=initscript.docker_script(initscript.run_script(command, env)))


def _log(text: str) -> None:
    print(f"qoslab-vm: {text}", file=sys.stderr)


def _env(items: Sequence[str]) -> dict[str, str]:
    env = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--env {item!r}: expected NAME=VALUE")
        env[name] = value
    return env


def main(argv: Sequence[str] | None = None) -> int:
    """Ctrl-C, `kill -INT` or `kill` stop the run however it was started (a background job of a script comes
    with SIGINT ignored): the `finally` blocks run, so QEMU is killed, its work directory (the ~500 MB
    initramfs) removed and a private dockerd stopped, where a plain SIGTERM left them behind."""
    args = _parser().parse_args(argv)
    try:
        with interruptible():
            return _main(args)
    except KeyboardInterrupt as stop:
        _log(f"stopped by {stop.args[0] if stop.args else 'SIGINT'}")
        return 130


def _main(args: argparse.Namespace) -> int:
    try:
        if args.command == "scenario":
            return _scenario(args, _log)
        env = _env(getattr(args, "env", []))
        if args.command == "compose":
            return compose.run(args.argv, extra_env=env, timeout_s=args.timeout,
                               build_images=not args.no_build, log=_log)
        if getattr(args, "docker", False) and not args.no_build:
            dockerdisk.build_images(repo_root(), _log)
        image = build.build(log=_log, with_tests=getattr(args, "tests", False))
        if args.command == "build":
            return 0
        command = args.argv if args.command == "run" else FIDELITY_CMD + list(args.argv)
        if not command:
            print("qoslab-vm: run needs a command after --", file=sys.stderr)
            return 2
        if getattr(args, "docker", False):
            result = _run_with_docker(image, command, env, args.timeout)
        else:
            result = boot.run(image, command, timeout_s=args.timeout, env=env)
    except (ValueError, NetemError) as exc:  # bad usage, or an invalid scenario or profile
        print(f"qoslab-vm: {exc}", file=sys.stderr)
        return 2
    except VmError as exc:
        print(f"qoslab-vm: {exc}", file=sys.stderr)
        return 1
    ready = f"{result.ready_s:.1f}s" if result.ready_s is not None else "never"
    print(f"qoslab-vm: exit {result.exit_code}; ready after {ready}, total {result.total_s:.1f}s",
          file=sys.stderr)
    return result.exit_code
