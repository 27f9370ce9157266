"""One source per default: the proxy's config classes take theirs from the Option table."""

from __future__ import annotations

import pytest

from services.common.config import build_parser
from services.proxy.cli import config_from
from services.proxy.job import ProxyConfig
from services.proxy.options import OPTIONS


def test_the_config_defaults_are_the_option_table() -> None:
    """`ProxyConfig()` is what the command line gives with nothing set (no default written twice)."""
    assert config_from(build_parser("x", "y", OPTIONS, environ={}).parse_args([])) == ProxyConfig()


@pytest.mark.parametrize("flag", ["--allow", "--purge-allow", "--stats-allow"])
def test_address_lists_are_parsed_at_the_command_line(flag: str) -> None:
    args = build_parser("x", "y", OPTIONS, environ={}).parse_args([flag, "10.0.0.1:81, 10.0.0.2:82"])
    assert isinstance(getattr(args, flag.lstrip("-").replace("-", "_")), frozenset)


def test_a_bad_allow_entry_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as raised:
        build_parser("x", "y", OPTIONS, environ={}).parse_args(["--allow", "[::1"])
    assert raised.value.code == 2
