"""What a link end is configured to at each instant: the rows of `netem-timeline.csv`.

The replayer appends one row per change of one end, with the end's whole setting from then on, so any
run can be plotted against its link (`client plot RAW --link netem-timeline.csv`). The client reads the
file with `services.client.linkview` (the same columns; a unit test checks both agree).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from netem.core.expect import end_loss
from netem.core.fields import Impairment

COLUMNS = ("wall_ns", "due_wall_ns", "late_us", "service", "link", "direction", "to", "delay_us",
           "jitter_us", "loss_pct", "rate_bps")


@dataclass(frozen=True)
class EndRef:
    """One end a replayer drives: a service's egress on a link (towards one destination, or all)."""

    service: str
    link: str
    direction: str
    to: str = ""

    @property
    def label(self) -> str:
        return f"{self.service}:{self.link}.{self.direction}" + (f">{self.to}" if self.to else "")


def row(end: EndRef, imp: Impairment, wall_ns: int, due_wall_ns: int, late_ns: int) -> dict[str, Any]:
    """One timeline row; loss is the end's mean loss (random, or Gilbert-Elliott's stationary rate)."""
    return {"wall_ns": wall_ns, "due_wall_ns": due_wall_ns, "late_us": round(late_ns / 1000, 1),
            "service": end.service, "link": end.link, "direction": end.direction, "to": end.to,
            "delay_us": imp.delay_us or 0, "jitter_us": imp.jitter_us or 0,
            "loss_pct": round(end_loss(imp)[0], 6), "rate_bps": imp.rate_bps if imp.rate_bps else ""}
