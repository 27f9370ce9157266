"""`python -m netem record RAW -o PROFILE.yaml` and `python -m netem compare REFERENCE REPLAY`.

record: a client recording (`client qos --raw`) → a replayable profile beside its traces and tables
(`netem.traces.recorder`), with the fit's quality (recorded vs fitted) printed and kept as comments.
`--base RAW` is a recording of the testbed itself, unimpaired (its median one-way delays are taken off,
else a replay is slow by the testbed's own path); `--base-ms UP,DOWN` gives them directly.

compare: the fidelity figures of a replay against its reference (KS distance, medians, loss per
direction, burst length, per-window correlation); exit 1 when the goal is missed.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from netem.core import units
from netem.traces import export, fidelity, recorder
from netem.traces.errors import TraceError
from netem.traces.recording import Recording, read_recording


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    record = sub.add_parser("record", help="a client raw recording → a replayable profile + traces")
    record.add_argument("raw", help="raw CSV written by `client qos --raw`")
    record.add_argument("-o", "--output", required=True, help="the profile to write (NAME.yaml)")
    record.add_argument("--window", help="trace window (default: 10 probe intervals, at least 10ms)")
    record.add_argument("--run", help="which run of the file (its run_id), when it holds several")
    base = record.add_mutually_exclusive_group()
    base.add_argument("--base", metavar="RAW", help="a recording of the unimpaired testbed: its median "
                                                   "one-way delays are taken off")
    base.add_argument("--base-ms", metavar="UP,DOWN", help="the testbed's one-way delays to take off")
    compare = sub.add_parser("compare", help="fidelity of a replay against its reference recording")
    compare.add_argument("reference")
    compare.add_argument("replay")
    compare.add_argument("--window", default="100ms", help="per-window delay series (default 100ms)")
    compare.add_argument("--offset", default="0s",
                         help="where the replay's first probe fell in the trace (see the timeline)")
    compare.add_argument("--run", nargs=2, metavar=("REF_RUN", "REPLAY_RUN"), help="run ids to pick")


def _read(path: str, run_id: str | None) -> Recording:
    try:
        with Path(path).open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise TraceError(path, 0, "(file)", path, f"a readable raw CSV ({exc.strerror})") from exc
    return read_recording(rows, path, run_id)


def _seconds(text: str, what: str) -> float:
    value = units.parse_seconds(text)
    if value is None:
        raise TraceError(what, 0, what, text, units.TIME_ALLOWED)
    return value


def _base(args: argparse.Namespace) -> recorder.Base:
    if args.base:
        return recorder.measure_base(_read(args.base, None))
    if args.base_ms:
        try:
            up, down = (float(part) for part in args.base_ms.split(","))
        except ValueError:
            raise TraceError("--base-ms", 0, "--base-ms", args.base_ms, "UP,DOWN in milliseconds") from None
        return recorder.Base(up, down, "given")
    return recorder.Base()


def run_record(args: argparse.Namespace) -> int:
    recording = _read(args.raw, args.run)
    window = _seconds(args.window, "--window") if args.window else None
    model = recorder.build(recording, window, _base(args))
    output = Path(args.output)
    stem = output.name.removesuffix(".yaml").removesuffix(".yml")
    output.parent.mkdir(parents=True, exist_ok=True)
    for name, text in export.files(model, stem, Path(args.raw).name).items():
        (output.parent / name).write_text(text, encoding="utf-8")
        print(output.parent / name)
    for line in export.quality(model):
        print(f"{line.what}: recorded {line.recorded:g} {line.unit}, fitted {line.fitted:g} {line.unit}",
              file=sys.stderr)
    return 0


def run_compare(args: argparse.Namespace) -> int:
    ref_run, replay_run = args.run or (None, None)
    result = fidelity.compare(_read(args.reference, ref_run), _read(args.replay, replay_run),
                              _seconds(args.window, "--window"), _seconds(args.offset, "--offset"))
    print(f"RTT KS distance {result.ks:.3f} (goal <= {fidelity.GOAL_KS})")
    print(f"RTT median {result.replay_median_ms:.2f} ms vs {result.reference_median_ms:.2f} ms "
          f"({result.median_diff_pct:+.2f} %)")
    for loss in result.loss:
        print(f"loss {loss.direction} {loss.replay_pct:.2f} % vs {loss.reference_pct:.2f} % "
              f"({loss.sigmas:.1f} sigma); mean burst {loss.replay_burst:.2f} vs {loss.reference_burst:.2f} "
              f"({loss.burst_diff_pct:+.0f} %)")
    print(f"per-window delay correlation {result.correlation:.3f} over {result.windows} windows")
    problems = result.problems()
    for problem in problems:
        print(f"MISSED: {problem}")
    return 1 if problems else 0
