"""The shipped queue pair through the containers, on the session's one stack (`netem_stack`): the
controller applies `bufferbloat` (a deep FIFO where the rate is limited) and `bufferbloat-fq_codel` (the
same link with fq_codel) to the running stack, each end reads back as the tree netem → tbf → queue with
one segment per packet, and `client responsiveness` in the prober grades the first D or F and the second
A or A+, with at least 5× the loaded RPM. `clear` gives the interfaces their offload back. On a kernel
without sch_netem the controller refuses the profile and says why. (The FIFO against its backlog, the codel
band and the comparison with iperf3 and irtt: tests/integration/netem/test_queue_suite.py.)
"""

from __future__ import annotations

from typing import Any

import pytest

from netem.backends.docker_backend import discover
from netem.core.engine import read_gso, read_tree
from netem.core.expect import parse_rows

from .netem_stack import READY_TIMEOUT, NetemStack

pytestmark = [pytest.mark.compose]
PAIR = (("bufferbloat", "pfifo", ("D", "F")), ("bufferbloat-fq_codel", "fq_codel", ("A", "A+")))
RESPONSIVENESS = ("responsiveness", "--phases", "idle,download", "--idle-time", "3s", "--load-time", "8s",
                  "--gap", "1s", "--json", "--csv", "", "--ready-timeout", READY_TIMEOUT)


def edge_ends(stack: NetemStack) -> list[Any]:
    found, _ = discover(stack.project, link="edge", client=stack.docker())
    return found


def test_queue_pair_through_the_containers(netem_stack: NetemStack, netem_present: bool) -> None:
    if not netem_present:
        code, said = netem_stack.netem("apply", "bufferbloat-fq_codel", "--link", "edge", "--no-calibrate")
        assert code == 1 and "this kernel has no sch_netem" in said, said[-3000:]
        return
    download: dict[str, dict[str, Any]] = {}
    try:
        for name, queue, _ in PAIR:
            netem_stack.apply(name, link="edge")
            for end in edge_ends(netem_stack):
                kinds = {state.parent or "root": state.kind for state in read_tree(end)}
                assert kinds == {"root": "netem", "1:1": "tbf", "2:1": queue}, (end.label, kinds)
                gso = read_gso(end)
                assert gso is not None and gso.gso_max_segs == 1, (end.label, gso)
            code, out, err = netem_stack.client(*RESPONSIVENESS)
            rows = {r.get("phase"): r for r in parse_rows(out) if r.get("kind") == "responsiveness"}
            assert code == 0 and "download" in rows, f"{name}: exit {code}\n{out[-2000:]}\n{err[-2000:]}"
            download[name] = rows["download"]
            print(f"{name}: {rows['download']}")
    finally:
        netem_stack.clear()
    for name, _, grades in PAIR:
        assert download[name]["bufferbloat_grade"] in grades, (name, download[name])
    ratio = download["bufferbloat-fq_codel"]["rpm"] / download["bufferbloat"]["rpm"]
    assert ratio >= 5, download
    assert all((gso := read_gso(end)) is not None and gso.gso_max_segs > 1 for end in edge_ends(netem_stack))
