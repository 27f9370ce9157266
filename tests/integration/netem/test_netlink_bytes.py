"""Differential: the netlink options the replayer sends are byte for byte what tc sends for the same
settings (tc's argv from `netem.tc`), captured with strace from `tc qdisc add` in a throwaway namespace.

Integration, marked `netns`: needs root, ip, tc and strace. It needs no sch_netem: tc builds and sends its
message either way (a kernel without netem refuses it afterwards), and only the message is compared.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess

import pytest

from netem.core import tc
from netem.core.fields import GeModel, Impairment, Slot
from netem.traces.netlink import netem_options

TOOLS = ("ip", "tc", "strace")
pytestmark = [pytest.mark.netns,
              pytest.mark.skipif(os.geteuid() != 0 or not all(shutil.which(t) for t in TOOLS),
                                 reason="needs root, ip, tc and strace")]

CASES = [
    Impairment(delay_us=10_000, jitter_us=2_000, correlation_pct=25.0, gemodel=GeModel(1.0, 30.0, 100.0, 0.0),
               rate_bps=5_000_000),
    Impairment(delay_us=50_000, loss_pct=2.0, loss_correlation_pct=10.0),
    Impairment(delay_us=10_000, reorder_pct=25.0, reorder_correlation_pct=10.0, gap=5, duplicate_pct=1.0,
               duplicate_correlation_pct=5.0, corrupt_pct=0.1, limit=500),
    Impairment(delay_us=1_000, slot=Slot(1_000, 4_000, 32, 64_000)),
    Impairment(rate_bps=40_000_000_000, packet_overhead=20, delay_us=1),
    Impairment(delay_us=10_000, reorder_pct=25.0),
    Impairment(gemodel=GeModel(1.0), delay_us=5_000),
    Impairment(delay_us=290_000, jitter_us=10_000, loss_pct=0.5, rate_bps=25_000_000),
]



def tc_options(namespace: str, imp: Impairment) -> bytes:
    """TCA_OPTIONS of the RTM_NEWQDISC message tc sends for `imp`."""
    argv = ["strace", "-f", "-e", "trace=sendmsg", "-xx", "-s", "65536", "ip", "netns", "exec", namespace,
            *tc.qdisc_argv("v0", imp, "add")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    match = re.search(r'nlmsg_type=0x24[^"]*"((?:\\x[0-9a-f]{2})+)"', done.stderr)
    assert match, done.stderr[-2000:]
    body = bytes.fromhex(match.group(1).replace("\\x", ""))
    offset = 20  # struct tcmsg
    while offset < len(body):
        length, kind = struct.unpack_from("=HH", body, offset)
        if kind == 2:  # TCA_OPTIONS
            return body[offset + 4:offset + length]
        offset += (length + 3) & ~3
    raise AssertionError("no TCA_OPTIONS in tc's message")


@pytest.mark.parametrize("imp", CASES, ids=[str(i) for i in range(len(CASES))])
def test_options_equal_what_tc_sends(namespace: str, imp: Impairment) -> None:
    assert netem_options(imp) == tc_options(namespace, imp)
