"""Command-line flags that fall back to environment variables, then to documented defaults.

Every setting of every service is declared once as an `Option`; `build_parser` turns the list into an
argparse parser whose `--help` shows the flag, its environment variable and its default, so a setting
can come from `docker compose` (environment) or from a shell (flag) with one precedence:
flag > environment > default. A service's config class takes its field defaults from `defaults(OPTIONS)`,
so each default is written once, in its Option.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_SIZE_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2,
               "mib": 1024**2, "g": 1000**3, "gb": 1000**3, "gib": 1024**3}
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0,
                   "h": 3600.0}


def parse_size(text: str) -> int:
    """Parse a byte size such as `64MiB`, `8mb`, `1500` into bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).lower() not in _SIZE_UNITS:
        raise ValueError(f"invalid size {text!r} (examples: 1500, 64KiB, 8MiB, 1GB)")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])


def parse_duration_s(text: str) -> float:
    """Parse a duration such as `10ms`, `2.5s`, `1m` (bare numbers are seconds) into seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Zµ]*)\s*", text)
    unit = match.group(2).lower() if match else ""
    if not match or (unit and unit not in _DURATION_UNITS):
        raise ValueError(f"invalid duration {text!r} (examples: 500us, 10ms, 2.5s, 1m)")
    return float(match.group(1)) * (_DURATION_UNITS[unit] if unit else 1.0)


def parse_host_port(text: str, default_port: int | None = None) -> tuple[str, int]:
    """Parse `HOST:PORT`, `[v6]:PORT` or (with a default port) a bare `HOST`."""
    match = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?|([^:\[\]]+)(?::(\d+))?", text.strip())
    if not match:
        raise ValueError(f"invalid address {text!r} (expected HOST:PORT)")
    host = match.group(1) or match.group(3)
    port_text = match.group(2) or match.group(4)
    if port_text is None:
        if default_port is None:
            raise ValueError(f"invalid address {text!r}: missing :PORT")
        return host, default_port
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise ValueError(f"invalid port in {text!r} (0-65535)")
    return host, port


def parse_port(text: str) -> int:
    """Parse a TCP/UDP port number; 0 means "pick a free port"."""
    port = int(text)
    if not 0 <= port <= 65535:
        raise ValueError(f"invalid port {text!r} (0-65535)")
    return port


def parse_worker_count(text: str) -> int:
    """A process count ≥ 1, or 0 for one per CPU core (`--workers`, `--udp-workers`)."""
    count = int(text)
    if count < 0:
        raise ValueError(f"invalid worker count {text!r} (0 = one per CPU core, or more)")
    return count or os.cpu_count() or 1


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"invalid boolean {text!r} (use true/false)")


@dataclass(frozen=True)
class Option:
    """One setting: `--flag`, its environment variable, its default and how to parse it."""

    flag: str
    env: str
    default: str
    help: str
    parse: Callable[[str], Any] = str
    is_switch: bool = False

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


def default_of(option: Option) -> Any:
    """The option's default, parsed as a flag's value would be."""
    return parse_bool(option.default) if option.is_switch else option.parse(option.default)


def defaults(options: Sequence[Option]) -> dict[str, Any]:
    """Every option's parsed default by its `dest` (what a config class declares as its field defaults)."""
    return {option.dest: default_of(option) for option in options}


def _typed(option: Option) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return option.parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    convert.__name__ = option.dest
    return convert


def build_parser(prog: str, description: str, options: Sequence[Option],
                 environ: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    """An argparse parser where each option defaults to its environment variable, then its default."""
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(parser, options, env)
    return parser


def add_options(parser: argparse.ArgumentParser, options: Sequence[Option],
                environ: Mapping[str, str] | None = None) -> None:
    """Add `options` to an existing parser (or subparser) with env-var fallbacks."""
    env = os.environ if environ is None else environ
    for option in options:
        raw = env.get(option.env, option.default)
        where = f"env {option.env}; default {option.default!r}"
        if option.is_switch:
            try:
                default = parse_bool(raw)
            except ValueError:
                parser.error(f"environment variable {option.env}={raw!r}: use true/false")
            parser.add_argument(option.flag, dest=option.dest, action=argparse.BooleanOptionalAction,
                                default=default, help=f"{option.help} ({where})")
            continue
        try:
            value = option.parse(raw)
        except ValueError as exc:
            parser.error(f"environment variable {option.env}={raw!r}: {exc}")
        parser.add_argument(option.flag, dest=option.dest, type=_typed(option), default=value,
                            metavar=option.dest.upper(), help=f"{option.help} ({where})")
