"""A netem profile on the dual-stack links shows in the IPv6 rows as in the IPv4 ones: the qdisc is per
interface, so both families wait in the same queue and lose to the same dice (netem_stack: in the VM
where the host has no sch_netem, natively where it has).

Each family is measured against its own reference (the profile's delayed ends at 1 ms, before and after:
netem/vm/reference.py), with the same bands as tests/compose/test_netem_profiles.py; the two families'
rows are printed side by side.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from netem.core.profile import load_profile
from netem.vm import checks
from netem.vm.reference import reference_profile

from .netem_stack import NetemStack
from .test_netem_profiles import Reference, profile_checks

pytestmark = pytest.mark.compose

PROFILE = {  # one-way delays that differ per direction and link, loss each way
    "description": "IPv4 vs IPv6 (tests/compose/test_ipv6_netem.py)",
    "edge": {"up": {"delay": "25ms", "loss": "3%"}, "down": {"delay": "10ms", "loss": "1%"}},
    "core": {"delay": "5ms"},
}
PROBES = ("--count", "400", "--interval", "20ms")
FAMILIES = ("4", "6")
SHOWN = ("rtt_median_ms", "owd_up_median_ms", "owd_down_median_ms", "jitter_ms", "loss_up_pct",
         "loss_down_pct", "packets_sent")


def _measure(stack: NetemStack, profile: Path) -> dict[str, Reference]:
    """Each family's row and per-probe samples (a reference's samples model its overhead)."""
    stack.apply(profile)
    return {family: stack.qos_samples(*PROBES, family=family) for family in FAMILIES}


def test_a_netem_profile_shows_in_the_ipv6_rows_as_in_the_ipv4_ones(netem_stack: NetemStack,
                                                                     netem_present: bool,
                                                                     tmp_path: Path) -> None:
    path = tmp_path / "dual.yaml"
    path.write_text(yaml.safe_dump(PROFILE), encoding="utf-8")
    if not netem_present:
        code, said = netem_stack.netem("apply", str(path), "--no-calibrate")
        assert code == 1 and "this kernel has no sch_netem" in said, said[-3000:]
        return
    reference = tmp_path / "reference.yaml"
    reference.write_text(yaml.safe_dump(reference_profile(load_profile(str(path)).ends, "dual")),
                         encoding="utf-8")
    try:
        before = _measure(netem_stack, reference)
        profile_runs = _measure(netem_stack, path)
        after = _measure(netem_stack, reference)
    finally:
        netem_stack.clear()
    rows = {family: measured[0] for family, measured in profile_runs.items()}
    assert [rows[f]["ip_version"] for f in FAMILIES] == [4, 6], rows
    print("\nIPv4 vs IPv6, the same profile on the same ends:\n"
          + "\n".join(f"| {column} | {rows['4'][column]} | {rows['6'][column]} |" for column in SHOWN))
    found = [check for family in FAMILIES for check in
             profile_checks(f"dual IPv{family}", path, profile_runs[family], before[family],
                            after[family])]
    print("\n" + checks.table(found))
    assert all(c.ok for c in found), checks.table([c for c in found if not c.ok])
