"""`--allocator`: when the proxy re-executes itself with PYTHONMALLOC set (pure; nothing is executed)."""

from __future__ import annotations

import pytest

from services.proxy.allocator import in_use, parse_allocator, reexec_environment


@pytest.mark.parametrize(("choice", "environ", "expected"), [
    ("malloc", {"PATH": "/bin"}, {"PATH": "/bin", "PYTHONMALLOC": "malloc"}),
    ("malloc", {"PYTHONMALLOC": "malloc"}, None),          # already running on it: no loop of execs
    ("malloc", {"PYTHONMALLOC": "pymalloc_debug"}, None),  # the operator's own choice wins
    ("pymalloc", {}, None),
])
def test_reexec_environment(choice: str, environ: dict[str, str], expected: dict[str, str] | None) -> None:
    assert reexec_environment(choice, environ) == expected


def test_parse_and_name() -> None:
    assert parse_allocator(" MALLOC ") == "malloc" and parse_allocator("pymalloc") == "pymalloc"
    with pytest.raises(ValueError, match="not one of malloc, pymalloc"):
        parse_allocator("jemalloc")
    assert in_use({}) == "pymalloc" and in_use({"PYTHONMALLOC": "malloc"}) == "malloc"
