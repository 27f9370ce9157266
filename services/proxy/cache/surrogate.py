"""Surrogate-Control (W3C Edge Architecture note): directives for reverse proxies, which override
Cache-Control when present. Only directives without a target, or targeted at us, apply. Pure."""

from __future__ import annotations

from services.common.http1.headers import Headers

from .directives import Directives, parse_cache_control

TARGET = "qoslab"
CAPABILITY = f'{TARGET}="Surrogate/1.0"'


def surrogate_directives(headers: Headers) -> Directives | None:
    """The Surrogate-Control directives addressed to us, or None when there are none."""
    values = headers.get_all("surrogate-control")
    if not values:
        return None
    kept: list[str] = []
    for value in values:
        for part in value.split(","):
            directive, sep, target = part.strip().partition(";")
            if directive and (not sep or target.strip().lower() == TARGET):
                kept.append(directive.strip())
    if not kept:
        return None
    return parse_cache_control([", ".join(kept)])
