"""`--allocator`: when the proxy re-executes itself with PYTHONMALLOC set (pure; nothing is executed)."""

from __future__ import annotations

import pytest

from services.proxy.allocator import Allocator, in_use, reexec_environment
from services.proxy.cli import parse_args

MALLOC, PYMALLOC = Allocator.MALLOC, Allocator.PYMALLOC


@pytest.mark.parametrize(("choice", "environ", "expected"), [
    (MALLOC, {"PATH": "/bin"}, {"PATH": "/bin", "PYTHONMALLOC": "malloc"}),
    (MALLOC, {"PYTHONMALLOC": "malloc"}, None),          # already running on it: no loop of execs
    (MALLOC, {"PYTHONMALLOC": "pymalloc_debug"}, None),  # the operator's own choice wins
    (PYMALLOC, {}, None),
])
def test_reexec_environment(choice: Allocator, environ: dict[str, str],
                            expected: dict[str, str] | None) -> None:
    assert reexec_environment(choice, environ) == expected


def test_flag_environment_and_name(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_args([]).allocator is PYMALLOC
    assert parse_args(["--allocator", "Malloc"]).allocator is MALLOC
    monkeypatch.setenv("PROXY_ALLOCATOR", "malloc")
    assert parse_args([]).allocator is MALLOC
    with pytest.raises(SystemExit):
        parse_args(["--allocator", "jemalloc"])
    assert in_use({}) == "pymalloc" and in_use({"PYTHONMALLOC": "malloc"}) == "malloc"
