"""Exceptions of the netem package; every one carries structured fields, none calls sys.exit."""

from __future__ import annotations


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
