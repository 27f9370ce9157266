"""`plan`: the argv a profile turns into, per link end and step, without running anything (pure)."""

from __future__ import annotations

from netem.core import rules, tc
from netem.core.endpoints import EGRESS
from netem.core.profile import Ends, Profile
from netem.core.queue import MODULES

LINK_CHOICES = ("edge", "core", "all")


def selected_ends(link: str) -> list[tuple[str, str, str]]:
    """(service, link, direction) for each egress end on `link` (`all` = both links)."""
    return [(svc, lnk, direction) for (svc, lnk), direction in EGRESS.items() if link in ("all", lnk)]


def _device(service: str, link: str) -> str:
    return f"<{service}@{link}>"


def plan_lines(profile: Profile, link: str = "all") -> list[str]:
    """Human-readable plan: one line per end (and per changed end at each step)."""
    lines = [f"# {profile.name}: {profile.description}"]
    for service, lnk, direction in selected_ends(link):
        imp = profile.ends[(lnk, direction)]
        kind = rules.layout(imp)
        text = " && ".join(" ".join(argv) for argv in tc.end_argvs(_device(service, lnk), imp))
        if kind is None:
            text += "  (only if something is in force)"
        lines.append(f"{service} {lnk}.{direction} [{kind or 'default qdisc'}]: {text}")
    previous: Ends = profile.ends
    for step in profile.steps:
        for service, lnk, direction in selected_ends(link):
            imp = step.ends[(lnk, direction)]
            if imp != previous[(lnk, direction)]:
                argvs = tc.end_argvs(_device(service, lnk), imp, "change")
                text = " && ".join(" ".join(argv) for argv in argvs)
                lines.append(f"+{step.at_s:g}s {service} {lnk}.{direction}: {text}")
        previous = step.ends
    needs = sorted({key for imp in profile.ends.values() for key in rules.netem_keys(imp)})
    if needs:
        lines.append(f"# needs sch_netem for: {', '.join(needs)}")
    queues = sorted({MODULES[imp.queue.kind] for imp in profile.ends.values() if imp.queue is not None})
    if queues:
        lines.append(f"# needs {', '.join(queues)} for the queue "
                     "(check: python -m netem.tools.capability --qdisc KIND)")
    return lines
