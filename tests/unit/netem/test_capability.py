"""The netem capability probe's verdicts (the probe itself runs in tests/compose and scripts/test)."""

from __future__ import annotations

import pytest

from netem.tools import capability


@pytest.mark.parametrize(("code", "stderr", "netem", "exit_code"), [
    (0, "", True, 0),
    (2, "Error: Specified qdisc kind is unknown.\n", False, 1),
    (1, "Unknown qdisc \"netem\", hence option \"delay\" is unparsable\n", False, 1),
    (2, "RTNETLINK answers: Operation not permitted\n", None, 2),
    (127, "tc: No such file or directory", None, 2),
])
def test_classify_tells_missing_netem_from_a_failed_probe(code: int, stderr: str, netem: bool | None,
                                                          exit_code: int) -> None:
    found = capability.classify(code, stderr)
    assert found.netem is netem
    assert found.exit_code == exit_code
    if netem is False:
        assert "no sch_netem" in found.detail and stderr.strip()[:20] in found.detail


def test_the_probe_touches_only_a_throwaway_loopback() -> None:
    assert capability.TC_ARGS[:4] == ("qdisc", "add", "dev", "lo")


def test_the_probe_asks_for_any_queue_kind() -> None:
    assert capability.tc_args("fq_codel") == ("qdisc", "add", "dev", "lo", "root", "fq_codel")
    assert capability.tc_args() == capability.TC_ARGS
    found = capability.classify(2, "Error: Specified qdisc kind is unknown.\n", "cake")
    assert found.netem is False and "no sch_cake" in found.detail
