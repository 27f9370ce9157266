"""The netem fidelity suite, run inside the VM: `python3 -m netem.vm.guest.fidelity [--only NAME…]`.

Wires the compose topology in namespaces, starts the real server and proxy, measures an unimpaired
baseline (and, right before each delay case, its reference: the same ends delayed by 5 ms), then for
each case applies its profile with `netem.core.engine` (the controller's apply path),
measures with the client, clears, and compares. Prints the table, then one JSON line after RESULT_MARKER.
Exit 0 when every check passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from netem.core.engine import apply_ends, clear_targets
from netem.core.expect import expected
from netem.core.fields import Impairment
from netem.core.profile import parse_profile
from netem.vm import checks
from netem.vm.checks import Check
from netem.vm.guest import netns, stack
from netem.vm.guest.cases import BASELINE_ARGS, BULK_BYTES, CASES, WARMUP_ARGS, Case
from netem.vm.reference import reference_ends

RESULT_MARKER = "QOSLAB-FIDELITY-RESULT "
ATTEMPTS = 2


def say(text: str) -> None:
    print(text, flush=True)


def measure(case: Case) -> dict[str, Any]:
    """Apply the case's profile on every link end, measure, and always clear."""
    targets = netns.targets()
    profile = parse_profile(case.profile(), f"<case {case.name}>", case.name)
    states = apply_ends(targets, profile.ends)
    try:
        shown = {label: state.kind if state else "none" for label, state in states.items()}
        say(f"  in force: {shown}")
        row = probe(case)
        if case.http:
            row["goodput_mbps"] = stack.download()["goodput_mbps"]
            row["bulk_mbps"] = stack.bulk(BULK_BYTES)["steady_bps"] / 1e6
        return row
    finally:
        clear_targets(targets)


def _summary(row: dict[str, Any]) -> str:
    medians = {f"{k[:-3]}_median_ms": checks.quantile(v, 0.5) for k, v in row.get("samples", {}).items()}
    row = {**row, **medians}
    keys = ("packets_sent", "rtt_median_ms", "owd_up_median_ms", "owd_down_median_ms", "rtt_mean_ms",
            "rtt_stddev_ms", "owd_up_mean_ms", "owd_down_mean_ms",
            "loss_pct", "duplicate_pct", "reordered_pct", "goodput_mbps", "bulk_mbps")
    return " ".join(f"{k}={row[k]:.3f}" if isinstance(row.get(k), float) else f"{k}={row.get(k)}"
                    for k in keys if k in row)


def probe(case: Case) -> dict[str, Any]:
    return stack.ping(case.qos_args) if case.tool == "ping" else stack.qos(case.qos_args)


def baseline(case: Case) -> dict[str, Any]:
    started = time.monotonic()
    row = probe(case)
    say(f"  baseline ({time.monotonic() - started:.1f}s): {_summary(row)}")
    return row


def reference_baseline(case: Case) -> dict[str, Any]:
    """For a delay case: a run with its reference in force (5 ms on each end the case delays,
    netem/vm/reference.py), minus the reference's configured delays. The baseline then carries the timer
    slack of as many delayed ends as the case (a busy host's, or TCG's), which an unimpaired baseline
    cannot show, so the case's verdict compares like with like."""
    ends = parse_profile(case.profile(), f"<case {case.name}>", case.name).ends
    ref = reference_ends(ends)
    want = expected(ref)
    targets = netns.targets()
    started = time.monotonic()
    apply_ends(targets, {end: ref.get(end, Impairment()) for end in ends})  # every end: the rest cleared
    try:
        row = probe(case)
    finally:
        clear_targets(targets)
    shift = {"rtt_ms": want.rtt_ms, "owd_up_ms": want.owd_up_ms, "owd_down_ms": want.owd_down_ms}
    row["samples"] = {key: [v - shift.get(key, 0.0) for v in values]
                      for key, values in row["samples"].items()}
    say(f"  reference ({time.monotonic() - started:.1f}s, its {want.rtt_ms:g} ms RTT subtracted): "
        f"{_summary(row)}")
    return row


def run_case(case: Case, base: dict[str, Any]) -> list[Check]:
    if case.paired:
        base = reference_baseline(case)
    t0 = time.monotonic()
    row = measure(case)
    found = case.verdict(case.name, row, base)
    say(f"  measured ({time.monotonic() - t0:.1f}s): {_summary(row)}")
    for c in found:
        say(f"  {'ok  ' if c.ok else 'FAIL'} {c.metric}: configured {c.configured:.3f} {c.unit}, "
            f"measured {c.measured:.3f} {c.unit} (±{c.tolerance:.3f})")
    return found


def run_cases(cases: Sequence[Case], attempts: int = ATTEMPTS) -> list[Check]:
    """Each case once; a failed one again (up to `attempts`), since a starved TCG guest stalls at times."""
    stack.qos(WARMUP_ARGS)  # first runs pay for imports and cold caches under TCG
    base = baseline(Case("baseline", {}, lambda *_: [], BASELINE_ARGS))
    results: list[Check] = []
    for case in cases:
        for attempt in range(1, attempts + 1):
            say(f"case {case.name}: {case.description}" + (f" (attempt {attempt})" if attempt > 1 else ""))
            found = run_case(case, base)
            if all(c.ok for c in found):
                break
        results += found
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m netem.vm.guest.fidelity")
    parser.add_argument("--only", nargs="*", default=[], help="case names to run (default: all)")
    args = parser.parse_args(argv)
    unknown = set(args.only) - {c.name for c in CASES}
    if unknown:
        print(f"unknown case(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    cases = [c for c in CASES if not args.only or c.name in args.only]
    started = time.monotonic()
    netns.setup()
    try:
        with tempfile.TemporaryDirectory(prefix="qoslab-www-") as tmp:
            root = stack.make_root(Path(tmp), BULK_BYTES)
            with stack.services(root):
                results = run_cases(cases)
    finally:
        netns.teardown()
    say("\n" + checks.table(results) + "\n")
    passed = sum(c.ok for c in results)
    say(f"fidelity: {passed} passed, {len(results) - passed} failed in {time.monotonic() - started:.1f}s")
    say(RESULT_MARKER + json.dumps([c.as_dict() for c in results]))
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
