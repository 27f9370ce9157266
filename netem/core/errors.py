"""Exceptions of the netem package; every one carries structured fields, none calls sys.exit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class NetemError(Exception):
    """Base class for every netem failure."""


class SchemaError(NetemError):
    """A file the user wrote is invalid: names the file, the key, the bad value and what is allowed."""

    what = "file"  # what kind of file, for messages ("invalid profile: …")

    def __init__(self, source: str, key: str, value: object, allowed: str) -> None:
        self.source = source
        self.key = key
        self.value = value
        self.allowed = allowed
        shown = "(missing)" if value is None else repr(value)
        super().__init__(f"{source}: {key}: invalid value {shown}: {allowed}")

    @classmethod
    def check_top(cls, raw: object, allowed: Sequence[str], source: str, path: str = "") -> Mapping[Any, Any]:
        """`raw` (a whole file, or the block at `path`) as a mapping with only `allowed` keys, else this
        error naming the key."""
        if not isinstance(raw, Mapping):
            raise cls(source, path or "(top level)", raw, f"a mapping with keys {', '.join(allowed)}")
        for key in raw:
            if key not in allowed:
                raise cls(source, f"{path}.{key}" if path else str(key), raw[key],
                          f"unknown key; allowed: {', '.join(allowed)}")
        return raw


class ProfileError(SchemaError):
    """A profile file or value is invalid (netem/profiles/*.yaml or a path)."""

    what = "profile"


class ScenarioError(SchemaError):
    """A scenario file is invalid (scenarios/*.yaml): its keys, tests, repetitions or client_args."""

    what = "scenario"


class ApplyError(NetemError):
    """Applying or clearing a qdisc failed; `stderr` is tc's own message (the RTNETLINK line)."""

    def __init__(self, message: str, *, target: str = "", argv: list[str] | None = None,
                 stderr: str = "", rolled_back: bool = False) -> None:
        self.target = target
        self.argv = argv or []
        self.stderr = stderr.strip()
        self.rolled_back = rolled_back
        super().__init__(message)


class QdiscUnavailable(ApplyError):
    """The kernel lacks the module of a qdisc the profile needs (`module`: sch_netem, sch_fq_codel …)."""

    def __init__(self, message: str, *, module: str, **kwargs: object) -> None:
        self.module = module
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class NetemUnavailable(QdiscUnavailable):
    """The kernel has no sch_netem; says which profile fields would have worked with tbf alone."""

    def __init__(self, message: str, **kwargs: object) -> None:
        super().__init__(message, module="sch_netem", **kwargs)


class DiscoveryError(NetemError):
    """A container, network or interface the profile needs could not be found."""
