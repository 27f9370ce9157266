"""tc's batch text and its stderr (pure). The stderr samples are tc's own (iproute2 6.1, `tc -force -batch
-` in a throwaway namespace on a kernel with htb and tbf but no sch_netem), byte for byte."""

from __future__ import annotations

import pytest

from netem.core import tcbatch
from netem.core.tcbatch import FAILED_RC, KERNEL_REFUSED_RC, LineResult, NotBatched

# Nine lines: 1-2 an htb root and class, 3 a netem leaf (no sch_netem), 4 a filter del of a missing
# preference, 5 a tbf leaf, 6 a del under a missing class, 7 `qdisc bogus`, 8 a filter add, 9 a missing
# device. Exit status 1.
NINE_LINES_STDERR = """\
Error: Specified qdisc kind is unknown.
Command failed -:3
Error: Cannot find specified filter chain.
We have an error talking to the kernel
Command failed -:4
Error: Specified class not found.
Command failed -:6
Command "bogus" is unknown, try "tc qdisc help".
Command failed -:7
Cannot find device "nosuch"
Command failed -:9
"""

# Seven lines: 1 an htb root, 2 a class without quantum (the kernel warns, the line succeeds), 3 a del
# under a missing class, 4 `tbf rate foo`, 5-6 devices named `a b` and `it"s` (quoted), 7 a tbf leaf.
WARNING_THEN_FAILURES_STDERR = """\
Warning: sch_htb: quantum of class 10001 is big. Consider r2q change.
Error: Specified class not found.
Command failed -:3
tbf: illegal value for "rate": "foo"
Command failed -:4
Cannot find device "a b"
Command failed -:5
Cannot find device "it"s"
Command failed -:6
"""

# Two lines, both applied; the second warned. Exit status 0.
WARNING_ONLY_STDERR = "Warning: sch_htb: quantum of class 10001 is big. Consider r2q change.\n"

# `qdisc show dev "unterminated` then a good line: tc stops at once. Exit status 1, no line reported.
ABORTED_STDERR = "Unterminated quoted string\n"


@pytest.mark.parametrize(("word", "written"), [
    ("eth0", "eth0"),
    ("1:", "1:"),
    ("a b", "'a b'"),
    ("tab\there", "'tab\there'"),
    ("", "''"),
    ("it's", '"it\'s"'),
    ('say "x"', "'say \"x\"'"),
    ("'lead", "\"'lead\""),
    ('in"side', "'in\"side'"),
    ("ends\\", "'ends\\'"),
])
def test_words_are_written_so_tc_reads_them_back(word: str, written: str) -> None:
    assert tcbatch.quote(word) == written


@pytest.mark.parametrize("word", ["a#b", "two\nlines", "nul\0", "both ' and \""])
def test_words_tc_cannot_read_back_are_refused(word: str) -> None:
    with pytest.raises(NotBatched):
        tcbatch.quote(word)


def test_encode_drops_tc_and_ends_every_line() -> None:
    argvs = [["tc", "qdisc", "replace", "dev", "eth0", "root", "handle", "1:", "htb", "default", "1"],
             ["tc", "filter", "del", "dev", "a b", "parent", "1:", "pref", "4097"]]
    assert tcbatch.encode(argvs) == ("qdisc replace dev eth0 root handle 1: htb default 1\n"
                                     "filter del dev 'a b' parent 1: pref 4097\n")


@pytest.mark.parametrize("argv", [
    ["ip", "link", "set", "dev", "eth0", "gso_max_segs", "1"],  # not tc
    ["tc", "-s", "-j", "qdisc", "show", "dev", "eth0"],  # options are tc's, not a batch line's
    ["tc"],
    ["tc", "qdisc", *["x"] * tcbatch.MAX_WORDS],  # tc reads at most 100 words a line
])
def test_encode_refuses_what_a_batch_line_cannot_hold(argv: list[str]) -> None:
    with pytest.raises(NotBatched):
        tcbatch.encode([argv])


def test_every_failed_line_gets_its_own_error() -> None:
    results = tcbatch.parse(1, NINE_LINES_STDERR, 9)
    ok = LineResult(0, "")
    assert results == [
        ok, ok,
        LineResult(KERNEL_REFUSED_RC, "Error: Specified qdisc kind is unknown."),
        LineResult(KERNEL_REFUSED_RC,
                   "Error: Cannot find specified filter chain.\nWe have an error talking to the kernel"),
        ok,
        LineResult(KERNEL_REFUSED_RC, "Error: Specified class not found."),
        LineResult(FAILED_RC, 'Command "bogus" is unknown, try "tc qdisc help".'),
        ok,
        LineResult(FAILED_RC, 'Cannot find device "nosuch"'),
    ]
    # run alone, on the same kernel (iproute2 6.1): lines 3 and 6 exited 2, line 9 exited 1 (and 7: 255,
    # which a batch cannot tell from tc's other errors)


def test_a_refusal_reported_by_rtnetlink_is_the_kernels_too() -> None:
    stderr = "RTNETLINK answers: Operation not permitted\nCommand failed -:1\n"
    assert tcbatch.parse(1, stderr, 1) == [
        LineResult(KERNEL_REFUSED_RC, "RTNETLINK answers: Operation not permitted")]


def test_a_warning_goes_with_the_next_failed_line() -> None:
    """tc does not say which line warned: its text reaches the next failure (documented)."""
    results = tcbatch.parse(1, WARNING_THEN_FAILURES_STDERR, 7)
    assert results[1] == LineResult(0, "")
    assert results[2].stderr.splitlines() == ["Warning: sch_htb: quantum of class 10001 is big. Consider "
                                              "r2q change.", "Error: Specified class not found."]
    assert results[2].returncode == KERNEL_REFUSED_RC and results[3].returncode == FAILED_RC
    assert results[5] == LineResult(FAILED_RC, 'Cannot find device "it"s"')
    assert results[6] == LineResult(0, "")


def test_a_clean_batch_gives_its_warnings_to_the_last_line() -> None:
    assert tcbatch.parse(0, WARNING_ONLY_STDERR, 2) == [
        LineResult(0, ""), LineResult(0, WARNING_ONLY_STDERR.strip())]
    assert tcbatch.parse(0, "", 3) == [LineResult(0, "")] * 3


@pytest.mark.parametrize(("returncode", "stderr", "count"), [
    (1, ABORTED_STDERR, 2),  # tc stopped on a line it did not report
    (1, "BusyBox v1.36.1 multi-call binary.\n\nUsage: tc [OPTIONS] OBJECT CMD [dev STRING]\n", 4),
    (255, 'Option "-batch" is unknown, try "tc -help".\n', 4),
    (127, "nsenter: failed to execute tc: No such file or directory\n", 4),
    (124, "timed out after 10s: nsenter --net=/x -- tc -force -batch -\n", 4),
    (255, "Error: Specified qdisc kind is unknown.\nCommand failed -:1\nUnterminated quoted string\n", 3),
    (1, "Error: x\nCommand failed -:1\nlater text\n", 3),  # stopped after a reported line
    (1, "Error: x\nCommand failed -:4\n", 3),  # a line the batch does not have
    (1, "Error: x\nCommand failed -:2\nError: y\nCommand failed -:2\n", 3),  # reported twice
    (0, "Error: x\nCommand failed -:1\n", 3),  # a failure and a clean exit
])
def test_output_that_is_not_a_whole_batch_is_refused(returncode: int, stderr: str, count: int) -> None:
    with pytest.raises(NotBatched):
        tcbatch.parse(returncode, stderr, count)


def test_shell_argv_passes_the_text_as_an_argument() -> None:
    text = "qdisc del dev 'a b' root\n"
    argv = tcbatch.shell_argv(text)
    assert argv[:2] == ["sh", "-c"] and argv[-1] == text
    assert "$1" in argv[2] and "tc -force -batch -" in argv[2]
    with pytest.raises(NotBatched):
        tcbatch.shell_argv("x" * (tcbatch.MAX_TEXT_B + 1))
