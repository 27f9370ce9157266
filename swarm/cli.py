"""`python -m swarm`: the stack file for `docker stack deploy`, and the client rows of a stack.

    python -m swarm stackfile [--registry HOST:PORT] [--no-placement] [--publish] [-o FILE]
    python -m swarm results STACK [--csv FILE]

`stackfile` prints (or writes) compose.yaml with compose.swarm.yaml merged on and what swarm refuses
taken out; pipe it to `docker stack deploy -c - STACK`. `results` reads the client tasks' logs through
the engine (`docker service logs STACK_client`) and appends the rows not yet in the CSV (default
results/qos_result.csv); it prints how many it found and added. Exit 0 ok, 1 failed or no rows yet,
2 bad usage.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from services.client.results import append_rows, read_rows
from swarm.results import new_rows, rows_from_log
from swarm.stackfile import StackFileError, StackOptions, stack_document

REPO = Path(__file__).resolve().parents[1]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m swarm", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    stack = sub.add_parser("stackfile", help="print the stack file for docker stack deploy")
    stack.add_argument("--compose", default=str(REPO / "compose.yaml"))
    stack.add_argument("--overlay", default=str(REPO / "compose.swarm.yaml"))
    stack.add_argument("--registry", default="", help="HOST:PORT the nodes pull the images from")
    stack.add_argument("--no-placement", action="store_true",
                       help="no qoslab.role node constraints (a single-node swarm)")
    stack.add_argument("--publish", action="store_true",
                       help="keep the published ports (swarm binds them on every interface of every node)")
    stack.add_argument("-o", "--output", default="-", help="file to write (default: stdout)")
    results = sub.add_parser("results", help="collect the client rows of a stack from its task logs")
    results.add_argument("stack")
    results.add_argument("--csv", default="results/qos_result.csv")
    return parser


def _load(path: str) -> dict[str, object]:
    with open(path, encoding="utf-8") as handle:
        doc = yaml.safe_load(handle)
    if not isinstance(doc, dict):
        raise StackFileError(f"{path}: expected a mapping at the top")
    return doc


def cmd_stackfile(args: argparse.Namespace) -> int:
    options = StackOptions(registry=args.registry, placement=not args.no_placement, publish=args.publish)
    doc = stack_document(_load(args.compose), _load(args.overlay), options)
    text = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
    return 0


def cmd_results(args: argparse.Namespace) -> int:
    argv = ["docker", "service", "logs", "--raw", "--no-task-ids", f"{args.stack}_client"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        print(f"{' '.join(argv)} failed: {done.stderr.strip()}", file=sys.stderr)
        return 1
    rows = rows_from_log(done.stdout.splitlines())
    fresh = new_rows(rows, read_rows(args.csv) if Path(args.csv).is_file() else [])
    if fresh:
        append_rows(args.csv, fresh)
    print(f"{len(rows)} rows in the logs of {args.stack}_client, {len(fresh)} new → {args.csv}")
    return 0 if rows else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "stackfile":
            return cmd_stackfile(args)
        return cmd_results(args)
    except (StackFileError, OSError, yaml.YAMLError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, StackFileError | yaml.YAMLError) else 1
