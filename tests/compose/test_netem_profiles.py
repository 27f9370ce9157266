"""netem profiles on the links between the containers, as the client's measurements show them.

The same file means the same on every kernel. One probe (`netem.tools.capability`, a netem qdisc on the
loopback of a throwaway container) decides what is right:
- with sch_netem (a netem-capable host, or the VM: tests/vm/test_compose_vm.py runs this file there on
  kernels without it), the stack started with a profile has it in force on every link end; each profile
  the controller applies to the running stack shows its configured round-trip delay, one-way delays and
  loss per direction in the client's row, and a jitter profile its spread; and the controller's command
  line changes and clears a running stack;
- without it, a profile stops the stack with exit 78 and the reason, and the controller refuses with
  the kernel's reason.

Delays are compared with a reference measured in the same run, right before and right after each
profile: the same ends delayed by 5 ms (netem/vm/reference.py says why 5). The timer slack of a busy or
emulated CPU is paid once per delayed end in both, so it cancels, and the bands stay at ±max(3 %, 1 ms)
plus how far the two references differ and the medians' sampling error. All checks share one stack
(the `netem_stack` fixture): a profile change is a controller `apply`, seconds under emulation where a
stack's re-creation costs a minute.
"""

from __future__ import annotations

import csv
import io
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from netem.core.expect import expected
from netem.core.profile import Ends, load_profile
from netem.traces.distribution import parse as parse_dist
from netem.traces.load import load as load_with_files
from netem.vm import checks
from netem.vm.guest.stack import read_samples
from netem.vm.reference import (
    Bracket,
    delay_check,
    ends_key,
    modelled_median_ms,
    reference_ends,
    reference_profile,
    sampling_error_ms,
)

from .netem_stack import PROFILES_DIR, START_PROFILE, NetemStack
from .stack import REPO

pytestmark = pytest.mark.compose

# lossy last: it delays only the edge ends, the others all four (consecutive profiles that delay the
# same ends share the reference measured between them)
PROFILES = ("lan", "4g", "satellite", "asymmetric", "lossy")
QOS_COLUMNS = ("rtt_median_ms", "rtt_stddev_ms", "owd_up_median_ms", "owd_down_median_ms", "jitter_ms",
               "loss_pct")
# Probes per profile run: bursty (Gilbert-Elliott) loss needs several hundred for a 3σ band that means
# something; a reference (constant delay, no loss) needs fewer. 20 ms apart: netem with a rate keeps
# packets in order (one leaves no earlier than the one before it), so jitter of σ per end delays probes
# that follow a slow one by up to σ√2 − the gap (4g at 10 ms read +2 ms on its RTT median; at 20 ms the
# chance is < 0.3 %). The reference runs at the same rate: on a loaded host the relay's own queueing
# depends on it (at 10 ms the references read 22 ms where the profile at 20 ms read 10).
PROBES = ("--count", "500", "--interval", "20ms")
REFERENCE_PROBES = ("--count", "300", "--interval", "20ms")
TC_LIB_DIRS = (Path("/usr/lib/tc"), Path("/usr/lib/x86_64-linux-gnu/tc"), Path("/usr/lib64/tc"))
# (label, row column, raw sample column, direction: None for both) of each delay check
DELAYS = (("RTT median", "rtt_median_ms", "rtt_ms", None),
          ("one-way up median", "owd_up_median_ms", "owd_up_ms", "up"),
          ("one-way down median", "owd_down_median_ms", "owd_down_ms", "down"))
Reference = tuple[dict[str, Any], dict[str, list[float]]]  # a reference run's row and per-probe samples
_END = re.compile(r"\((\w+)\.(\w+)\)$")  # "proxy:eth1 (core.up)" → (core, up)


def profile_path(name: str) -> Path:
    local = PROFILES_DIR / f"{name}.yaml"
    return local if local.exists() else REPO / f"netem/profiles/{name}.yaml"


class Measurements:
    """Profiles measured one after another on the shared stack, each between two runs of its reference.
    The reference run after one profile is the run before the next when both delay the same ends."""

    def __init__(self, stack: NetemStack, folder: Path) -> None:
        self.stack, self.folder = stack, folder
        self.last: tuple[tuple[tuple[str, str], ...], Reference] | None = None
        self.loss_runs: dict[str, str] = {}  # by profile: its longest runs of lost probes, for the record

    def reference(self, ends: Ends, name: str) -> Reference:
        path = self.folder / f"reference-{name}.yaml"
        path.write_text(yaml.safe_dump(reference_profile(ends, name)), encoding="utf-8")
        self.stack.apply(path)
        measured = self.stack.qos_samples(*REFERENCE_PROBES)
        self.last = (ends_key(ends), measured)
        return measured

    def measure(self, name: str, path: Path) -> tuple[Reference, Reference, Reference]:
        """(the profile's run, the reference's before, the reference's after: each its row and samples)."""
        ends = load_profile(str(path)).ends
        before = self.last[1] if self.last and self.last[0] == ends_key(ends) else self.reference(ends, name)
        self.stack.apply(path)
        try:
            row, text = self.stack.qos_raw(*PROBES, keep=f"profile-{name}.csv")
        finally:
            after = self.reference(ends, name)
        self.loss_runs[name] = loss_runs(text)
        return (row, read_samples(text)), before, after


@pytest.fixture(scope="module")
def measurements(netem_stack: NetemStack, tmp_path_factory: pytest.TempPathFactory) -> Measurements:
    return Measurements(netem_stack, tmp_path_factory.mktemp("references"))


def _num(row: dict[str, Any], column: str) -> float:
    value = row.get(column, "")
    assert value not in ("", None), f"empty {column} in {row}"
    return float(value)


def loss_runs(raw_text: str, shown: int = 3) -> str:
    """The longest runs of consecutive lost probes in a raw per-probe CSV (first seq, length, send offset):
    a profile's Gilbert-Elliott bursts are a few probes long, a stall of the path is a long run."""
    runs: list[tuple[int, int, float]] = []  # (length, first seq, offset s)
    current: tuple[int, int, float] | None = None
    for record in csv.DictReader(io.StringIO(raw_text)):
        if record.get("received") == "0":
            current = (current[0] + 1, *current[1:]) if current else (1, int(record["seq"]),
                                                                      float(record["send_offset_s"]))
            continue
        if current:
            runs.append(current)
        current = None
    runs += [current] if current else []
    longest = sorted(runs, reverse=True)[:shown]
    return (f"{len(runs)} loss runs; longest " + ", ".join(
        f"{n} from seq {seq} at {at:.2f} s" for n, seq, at in longest)) if runs else "no loss"


def lower_spread(row: dict[str, Any]) -> float:
    """RTT median − min: the spread of the lower half, which the stalls of a busy or emulated CPU (all
    above the median) leave alone. For normal jitter of σ over a few hundred probes it is about 2.5 σ."""
    return _num(row, "rtt_median_ms") - _num(row, "rtt_min_ms")


def jitter_tables(path: Path, ends: Ends) -> dict[str, list[int]]:
    """The tables of the distributions `ends` draw jitter from (normal needs none): a file beside the
    profile as the controller reads it (`netem.traces.load`), a built-in one from iproute2's lib dir
    (TC_LIB_DIR or the usual ones, as tc looks them up)."""
    tables = {name: list(values) for name, values in load_with_files(str(path)).tables.items()}
    drawn = {imp.distribution for imp in ends.values() if imp.distribution and imp.jitter_us}
    for name in drawn - {"normal"} - set(tables):
        dirs = [*([Path(os.environ["TC_LIB_DIR"])] if os.environ.get("TC_LIB_DIR") else []), *TC_LIB_DIRS]
        found = next((d / f"{name}.dist" for d in dirs if (d / f"{name}.dist").is_file()), None)
        assert found, f"jitter distribution {name}: no {name}.dist in {', '.join(map(str, dirs))}"
        tables[name] = list(parse_dist(found.read_text(encoding="utf-8"), str(found)))
    return tables


def profile_checks(name: str, path: Path, run: Reference, before: Reference,
                   after: Reference) -> list[checks.Check]:
    """Configured vs measured for one profile's row, delays against the reference measured around it:
    the profile's delays plus the overhead the references measured (netem/vm/reference.py says why a
    jittered end needs the overhead's samples, not only its median), banded with the sampling error of
    the three runs' medians."""
    row, samples = run
    ends = load_profile(str(path)).ends
    want, ref_ends, tables = expected(ends), reference_ends(ends), jitter_tables(path, ends)
    found = []
    for label, column, sample, direction in DELAYS:
        mine = [imp for (_, d), imp in sorted(ends.items()) if direction in (None, d)]
        base_ms = sum(imp.delay_us or 0 for (_, d), imp in ref_ends.items() if direction in (None, d)) / 1000
        overhead = [x - base_ms for x in (*before[1][sample], *after[1][sample])]
        configured = modelled_median_ms(mine, overhead, tables) - (base_ms + statistics.median(overhead))
        found.append(delay_check(name, f"{label} − reference", configured, _num(row, column),
                                 Bracket(_num(before[0], column), _num(after[0], column)),
                                 sampling_error_ms(samples[sample], before[1][sample], after[1][sample])))
    sent = int(_num(row, "packets_sent"))
    lost_up, lost_down = int(_num(row, "lost_up_packets")), int(_num(row, "lost_down_packets"))
    path_up, path_down = path_loss(before[0], after[0])
    found += [
        checks.binomial(name, "loss up", checks.with_path_loss(want.loss_up_pct, path_up),
                        100.0 * lost_up / sent, sent, want.loss_up_inflation,
                        note=f"3σ binomial, n={sent}, ×{want.loss_up_inflation:.2f} var, "
                             f"path {path_up:.3f} %"),
        checks.binomial(name, "loss down", checks.with_path_loss(want.loss_down_pct, path_down),
                        100.0 * lost_down / max(sent - lost_up, 1), sent - lost_up, want.loss_down_inflation,
                        note=f"3σ binomial, n={sent - lost_up}, ×{want.loss_down_inflation:.2f} var, "
                             f"path {path_down:.3f} %"),
    ]
    if want.jitter_ms >= 1.0:  # the spread a jitter profile adds must show above the reference's
        base = (lower_spread(before[0]) + lower_spread(after[0])) / 2
        found.append(checks.at_least(name, "RTT spread (median − min) − reference's", want.jitter_ms,
                                     lower_spread(row) - base, 0.5, "ms", "≥ 0.5 × configured σ"))
    return found


def path_loss(*references: dict[str, Any]) -> tuple[float, float]:
    """Loss (%) up and down of the path itself, from the references: they carry no netem loss, so what they
    lost the path dropped (a starved relay or echo overflowing a socket buffer on a busy host; none when
    quiet). Estimated so that none seen is not taken for none possible (`checks.path_loss_pct`)."""
    sent = sum(_num(r, "packets_sent") for r in references)
    up = sum(_num(r, "lost_up_packets") for r in references)
    down = sum(_num(r, "lost_down_packets") for r in references)
    return checks.path_loss_pct(int(up), int(sent)), checks.path_loss_pct(int(down), int(sent - up))


def end_of(label: str) -> tuple[str, str]:
    match = _END.search(label)
    assert match, label
    return match[1], match[2]


def test_profile_at_start_is_in_force_on_every_end(netem_stack: NetemStack, netem_present: bool) -> None:
    """The container start path (`netem.startup` in each entrypoint) with START_PROFILE: tc's own
    read-back on every end shows the profile's delay and loss; without sch_netem every service stops
    with exit 78 and the kernel's reason."""
    start = netem_stack.start
    if not netem_present:
        assert set(start.exits.values()) == {78}, (start.exits, start.logs[-3000:])
        assert "this kernel has no sch_netem" in start.logs
        return
    assert all(code is None for code in start.exits.values()), start.exits
    ends = load_profile(str(PROFILES_DIR / Path(START_PROFILE).name)).ends
    assert sorted(end_of(label) for label in start.qdiscs) == sorted(ends), start.qdiscs
    for label, qdisc in start.qdiscs.items():
        imp = ends[end_of(label)]
        assert qdisc["qdisc"] == "netem", (label, qdisc)
        assert qdisc["opt_delay_delay"] == pytest.approx((imp.delay_us or 0) / 1e6), (label, qdisc)
        loss = qdisc.get("opt_loss-random_loss", 0)
        assert loss == pytest.approx((imp.loss_pct or 0) / 100), (label, qdisc)


@pytest.mark.parametrize("name", PROFILES)
def test_profile_applied_to_the_running_stack_shows_in_the_client_row(
        name: str, netem_present: bool, netem_stack: NetemStack, measurements: Measurements) -> None:
    path = profile_path(name)
    if not netem_present:
        code, said = netem_stack.netem("apply", str(path), "--no-calibrate")
        assert code == 1 and "this kernel has no sch_netem" in said, said[-3000:]
        return
    run, before, after = measurements.measure(name, path)
    row = run[0]
    assert all(row.get(c) not in ("", None) for c in QOS_COLUMNS), row
    found = profile_checks(name, path, run, before, after)
    runs = f"loss runs of {name}: {measurements.loss_runs[name]}"
    print("\n" + checks.table(found) + f"\n{runs}")
    assert all(c.ok for c in found), checks.table([c for c in found if not c.ok]) + f"\n{runs}"


def _cli(stack: NetemStack, *args: str) -> subprocess.CompletedProcess[str]:
    """The controller as a user runs it: `python -m netem --project P ARGS…`."""
    return subprocess.run([sys.executable, "-m", "netem", "--project", stack.project, *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300, check=False)


def test_controller_changes_a_running_stack(netem_stack: NetemStack, netem_present: bool,
                                            tmp_path: Path) -> None:
    """`python -m netem apply` puts 20 ms each way on core of the running stack (measured against 1 ms
    each way, applied the same way before and after), and `clear` removes every qdisc it put there.
    A constant delay moves every probe, so the minimum RTT shows it: the least delayed probe of a run
    carries the least timer slack, which keeps the check steady on a busy host."""
    delayed = tmp_path / "core-20ms.yaml"
    delayed.write_text("description: 20 ms each way on core\ncore: {delay: 20ms}\n", encoding="utf-8")
    reference = tmp_path / "core-1ms.yaml"
    reference.write_text("description: the reference, 1 ms each way on core\ncore: {delay: 1ms}\n",
                         encoding="utf-8")
    rows = []
    for profile in (reference, delayed, reference):
        applied = _cli(netem_stack, "apply", str(profile), "--link", "core", "--no-calibrate")
        if not netem_present:
            assert applied.returncode == 1, applied.stderr
            assert "this kernel has no sch_netem" in applied.stderr, applied.stderr
            return
        assert applied.returncode == 0, applied.stdout + applied.stderr
        rows.append(netem_stack.qos(*REFERENCE_PROBES))
    cleared = _cli(netem_stack, "clear")
    assert cleared.returncode == 0, cleared.stdout + cleared.stderr
    shown = {label: q["qdisc"] for label, q in netem_stack.qdiscs().items()}
    bracket = Bracket(_num(rows[0], "rtt_min_ms"), _num(rows[2], "rtt_min_ms"))
    added = delay_check("controller", "RTT min − reference", 38.0, _num(rows[1], "rtt_min_ms"), bracket)
    print("\n" + checks.table([added]) + f"\nafter clear: {shown}")
    assert added.ok, checks.table([added])
    assert "netem" not in shown.values(), shown
