"""What every row of a command carries (run id, label, profile, clock mode, replica), from the flags.

Its own module so the CLI and the menu share it without importing each other.
"""

from __future__ import annotations

import argparse

from services.client import clocks, options, results
from services.client.runs import RunContext
from services.common.config import parse_bool


class UsageError(Exception):
    """Bad flags or values: exit status 2."""


def same_clock(ns: argparse.Namespace) -> bool | None:
    text = str(getattr(ns, "same_clock", "auto")).strip().lower()
    if text == "auto":
        return None
    try:
        return parse_bool(text)
    except ValueError as exc:
        raise UsageError(f"--same-clock: {exc}") from exc


def context(ns: argparse.Namespace) -> RunContext:
    return RunContext(results.new_run_id(), ns.label, ns.profile,
                      clocks.configured_mode(same_clock(ns), ns.separate_clocks, ns.target[0]),
                      ns.separate_clocks, options.replica_name(ns.replica), ns.condition)
