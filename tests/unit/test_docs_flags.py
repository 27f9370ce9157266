"""The flag tables of docs/server.md and docs/proxy.md against the Option tables they document: every flag
has a row, with its environment variable and its default (a default is written once in code; the docs
copy is checked here)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.common.config import Option, default_of
from services.proxy.options import OPTIONS as PROXY
from services.server.options import OPTIONS as SERVER

DOCS = Path(__file__).resolve().parents[2] / "docs"
_ROW = re.compile(r"^\| `(--[a-z-]+)(?:/--no-[a-z-]+)?` \| `([A-Z_]+)` \| ([^|]+) \|", re.M)
_ONE_VALUE = re.compile(r"`([^`]+)`|(on|off)")


def rows(doc: str) -> dict[str, tuple[str, str]]:
    text = (DOCS / doc).read_text(encoding="utf-8")
    return {flag: (env, cell.strip()) for flag, env, cell in _ROW.findall(text)}


@pytest.mark.parametrize(("doc", "options"), [("server.md", SERVER), ("proxy.md", PROXY)])
def test_every_flag_is_documented_with_its_env_and_default(doc: str, options: list[Option]) -> None:
    table = rows(doc)
    for option in options:
        assert option.flag in table, f"{doc}: no row for {option.flag}"
        env, cell = table[option.flag]
        assert env == option.env, (doc, option.flag)
        value = _ONE_VALUE.fullmatch(cell)
        if value is None:  # a description ("see below", the repository's www/): nothing to parse
            continue
        written = value.group(1) or value.group(2)
        parsed = Option(option.flag, option.env, written, "", option.parse, option.is_switch)
        assert default_of(parsed) == default_of(option), (doc, option.flag, written, option.default)
