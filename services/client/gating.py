"""The client's `--assert` and `--junit` flags: parse before the run, check and report after it.

The thin shell around `gates` (pure checks) and `junit` (pure XML): the rows have already been written
to the CSV when `finish` runs, so a failed gate never loses a measurement.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from services.client import gates, junit, results


def add_arguments(parser: argparse.ArgumentParser, environ: Mapping[str, str] | None = None) -> None:
    env = os.environ if environ is None else environ
    parser.add_argument("--assert", dest="asserts", action="append", metavar="EXPR",
                        default=None,
                        help="QoS gate COLUMN OP LIMIT (OP: < <= > >= ==), e.g. rtt_p99_ms<80; repeatable; "
                             "exit 1 when one is violated (env CLIENT_ASSERT, separated by ';' or ',')")
    parser.add_argument("--junit", default=env.get("CLIENT_JUNIT", ""), metavar="FILE",
                        help="write JUnit XML: one testcase per test and per assertion "
                             f"(env CLIENT_JUNIT; default {env.get('CLIENT_JUNIT', '')!r})")
    parser.set_defaults(env_asserts=env.get("CLIENT_ASSERT", ""))


def parse(ns: argparse.Namespace, columns: Sequence[str] = results.COLUMNS) -> list[gates.Assertion]:
    """The assertions of `--assert` (or CLIENT_ASSERT when no flag is given); GateError when bad."""
    given = getattr(ns, "asserts", None)
    texts = given if given is not None else gates.split_env(getattr(ns, "env_asserts", ""))
    return gates.parse_all(texts, columns)


def finish(ns: argparse.Namespace, status: int, rows: Sequence[Mapping[str, Any]],
           assertions: Sequence[gates.Assertion], out: TextIO | None = None) -> int:
    """Report each assertion and write the JUnit file; exit 1 when a gate failed, else `status`."""
    outcomes = gates.check(assertions, rows)
    stream = out or (sys.stderr if getattr(ns, "json", False) else sys.stdout)
    for outcome in outcomes:
        print(f"{'PASS' if outcome.passed else 'FAIL'} assert {outcome.message}", file=stream)
    junit_path = getattr(ns, "junit", "")
    if junit_path:
        root = junit.build(ns.command, rows, outcomes, timestamp=results.utc_now_iso(),
                           hostname=socket.gethostname())
        try:
            target = Path(junit_path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(junit.to_xml(root), encoding="utf-8")
        except OSError as exc:
            print(f"cannot write {junit_path}: {exc}", file=sys.stderr)
            return 1
    if status == 0 and not all(o.passed for o in outcomes):
        return 1
    return status
