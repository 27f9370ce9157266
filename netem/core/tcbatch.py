"""tc's batch mode: many tc commands in one process (pure: text in, text out, nothing runs here).

`tc -force -batch -` reads one command per line from stdin (the argv without its leading "tc"), runs
them all, and after each failing line prints that line's error followed by `Command failed -:N` (N the
1-based line) on stderr; it exits 1 when any line failed, else 0. `encode` writes the lines, `parse`
reads the per-line results back, `shell_argv` pipes the lines into tc where only an argv can be passed
(`docker exec`).

iproute2 splits a batch line itself (`makeargs`): a word is quoted when it *starts* with ' or " and
runs to the next such quote, with no escapes; `#` starts a comment anywhere in a line, and a backslash
before the newline joins the next line. Words that cannot be written under these rules raise
`NotBatched`, and so does tc output that does not read as a batch's (a tc without -batch, a command
that aborted tc mid-batch): the caller then runs each argv on its own.

What a batch does not tell: a failed line's exit status, and which successful line printed a warning.
tc run alone exits 2 when the kernel refused the change (its error then reads `Error: …` from the
kernel's extended ack, or `RTNETLINK answers: …`), 1 on its own errors (`Cannot find device`); `parse`
gives a failed line the status its text says (`KERNEL_REFUSED_RC`, else `FAILED_RC`). The text before a
`Command failed` line belongs to that failed line (a warning of a successful line before it too); on a
batch without failures all of it goes to the last line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

BATCH_ARGV = ("tc", "-force", "-batch", "-")
FAILED_RC = 1  # tc's exit status for a batch with a failed line, and for its own errors
KERNEL_REFUSED_RC = 2  # tc's exit status when the kernel refused a change (iproute2's *_modify)
KERNEL_REFUSAL = ("Error: ", "RTNETLINK answers: ")  # how tc prints the kernel's refusal
MAX_WORDS = 99  # tc's batch reads at most 100 words a line, "Too many arguments" ends the process
MAX_TEXT_B = 100_000  # a batch passed as one argv word (shell_argv) must stay under Linux's 128 KiB
_FAILED = re.compile(r"^Command failed -:(\d+)$")
_PLAIN_UNSAFE = frozenset(" \t\r\\'\"")
_PIPE = 'printf "%s" "$1" | exec tc -force -batch -'


class NotBatched(Exception):
    """These commands cannot go through one tc batch (or tc's answer does not read as one): run each."""


@dataclass(frozen=True)
class LineResult:
    """One batch line's outcome: 0, KERNEL_REFUSED_RC or FAILED_RC, and the stderr tc printed for it."""

    returncode: int
    stderr: str


def quote(word: str) -> str:
    """The word as tc's batch reader gives it back (raises NotBatched when no spelling does)."""
    if "#" in word or "\n" in word or "\0" in word:
        raise NotBatched(f"{word!r} cannot be written in a tc batch line")
    if word and not _PLAIN_UNSAFE & set(word):
        return word
    for mark in ("'", '"'):
        if mark not in word:
            return f"{mark}{word}{mark}"
    raise NotBatched(f"{word!r} holds both quote marks: a tc batch line cannot quote it")


def encode(argvs: Sequence[Sequence[str]]) -> str:
    """The batch text for tc argvs (each starts with "tc" and a command, not an option such as -s)."""
    lines = []
    for argv in argvs:
        if not argv or argv[0] != "tc" or len(argv) < 2 or argv[1].startswith("-"):
            raise NotBatched(f"not a tc command without options: {' '.join(argv)}")
        if len(argv) - 1 > MAX_WORDS:
            raise NotBatched(f"{len(argv) - 1} words: a tc batch line takes at most {MAX_WORDS}")
        lines.append(" ".join(quote(word) for word in argv[1:]))
    return "".join(line + "\n" for line in lines)


def parse(returncode: int, stderr: str, count: int) -> list[LineResult]:
    """Each of `count` lines' result from tc's exit status and stderr (raises NotBatched when the output
    is not that of a batch that ran to its end)."""
    results = [LineResult(0, "") for _ in range(count)]
    pending: list[str] = []
    last = 0
    for text in stderr.splitlines():
        found = _FAILED.match(text)
        if found is None:
            pending.append(text)
            continue
        line = int(found.group(1))
        if not last < line <= count:
            raise NotBatched(f"tc reported line {line} of {count} after line {last}")
        results[line - 1] = LineResult(_status(pending), "\n".join(pending))
        pending, last = [], line
    if returncode != (FAILED_RC if last else 0):
        raise NotBatched(f"tc exited {returncode} after {'a failed line' if last else 'no failed line'}")
    if pending:
        if last or not count:  # an error after the last failed line: tc stopped on a line it did not report
            raise NotBatched("tc printed an error after its last failed line")
        results[-1] = LineResult(0, "\n".join(pending))
    return results


def _status(stderr_lines: Sequence[str]) -> int:
    refused = any(text.startswith(KERNEL_REFUSAL) for text in stderr_lines)
    return KERNEL_REFUSED_RC if refused else FAILED_RC


def shell_argv(text: str) -> list[str]:
    """`sh -c` piping `text` into `tc -force -batch -`: the text is an argument of its own, never parsed
    by the shell (for runners that pass an argv but no stdin)."""
    if len(text.encode()) > MAX_TEXT_B:
        raise NotBatched(f"{len(text)} characters: too long for one argument")
    return ["sh", "-c", _PIPE, "sh", text]
