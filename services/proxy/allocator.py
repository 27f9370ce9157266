"""Which memory allocator the proxy's interpreter uses (`--allocator`, issue 25).

CPython puts objects up to 512 bytes in pymalloc's 1 MiB arenas, and an arena goes back to the system only
when every object in it is gone: after 8 bursts of 5,000 connections a few survivors scattered over the
arenas kept +24 MiB resident after the release (`memory.py`; +75 MiB without it). With
`PYTHONMALLOC=malloc` every object lives in glibc's heap, whose free pages `malloc_trim` does return: the
proxy went back to +3 MiB. But glibc's allocator costs every hit more CPU (pinned, against the proxy
before issue 25: +4 % per small hit, +13 % per 1 MiB hit), so the default stays CPython's (`pymalloc`) and
`malloc` is for a proxy whose resident memory after bursts matters more than its hit rate (figures in
docs/proxy.md).

`PYTHONMALLOC` is read once, when the interpreter starts, so `--allocator malloc` makes the proxy
re-execute itself once with it set, before anything else runs (same process id, same arguments). A
`PYTHONMALLOC` already in the environment is the operator's choice and is kept as it is.
"""

from __future__ import annotations

import enum
import os
import sys
from collections.abc import Mapping

ENV = "PYTHONMALLOC"


class Allocator(enum.Enum):
    MALLOC = "malloc"      # glibc's, for every object (re-executes with PYTHONMALLOC=malloc)
    PYMALLOC = "pymalloc"  # CPython's default


def reexec_environment(choice: Allocator, environ: Mapping[str, str]) -> dict[str, str] | None:
    """The environment to re-execute with for `choice`, or None to go on as is."""
    if choice is not Allocator.MALLOC or ENV in environ:
        return None
    return {**environ, ENV: "malloc"}


def in_use(environ: Mapping[str, str]) -> str:
    """The allocator this interpreter runs on, as `PYTHONMALLOC` names it (`pymalloc` when unset)."""
    return environ.get(ENV) or "pymalloc"


def reexec_if_needed(choice: Allocator) -> None:
    """Replace this process by the same command with `PYTHONMALLOC` set, when `choice` asks for it (only
    from the program's entry point: the command line is the interpreter's own, `sys.orig_argv`)."""
    environment = reexec_environment(choice, os.environ)
    if environment is not None:
        sys.stdout.flush()
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], environment)
