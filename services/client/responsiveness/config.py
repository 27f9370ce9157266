"""Parameters of a responsiveness test (pure). Defaults follow the draft and flent's RRUL."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from services.client.responsiveness import phases as timeline
from services.client.responsiveness import stability

MAX_FLOWS = 16  # MNP: the draft's maximum number of parallel load-generating connections


class RespConfigError(ValueError):
    """Parameters that do not make a test; `field` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class RespConfig:
    download_url: str
    upload_url: str
    probe_url: str                       # small object for the foreign probes
    proxy: tuple[str, int] | None        # HTTP proxy (None: direct)
    udp_target: tuple[str, int] | None   # UDP echo for the probes (None: no UDP probes)
    phases: tuple[str, ...] = timeline.ALL_PHASES
    idle_s: float = 5.0
    load_s: float = 10.0                 # each loaded phase
    gap_s: float = 3.0                   # between phases: the queues drain
    window_s: float = float(stability.MAD)  # the last MAD × ID seconds of a loaded phase
    flows_down: int = 4                  # RRUL: 4 up + 4 down
    flows_up: int = 4
    udp_interval_s: float = 0.02         # 50 probes/s
    udp_size: int = 48
    foreign_interval_s: float = 0.25     # 4 foreign probes/s
    sample_interval_s: float = 0.1       # TCP_INFO (self RTT, bytes) of every load connection
    upload_bytes: int = 32 << 20         # Content-Length of each upload (the proxy streams it)
    timeout_s: float = 10.0              # connect / foreign probe
    linger_s: float = 1.0                # after the last phase: late UDP replies
    family: str = "auto"                 # address family of every flow and probe: auto, 4 or 6

    def validate(self) -> RespConfig:
        try:
            self.plan()  # an idle-only plan is fine: idle latency and the foreign RPM
        except timeline.PhaseError as exc:
            raise RespConfigError("phases", str(exc)) from exc
        for name, value in (("flows-down", self.flows_down), ("flows-up", self.flows_up)):
            if not 1 <= value <= MAX_FLOWS:
                raise RespConfigError(name, f"must be 1-{MAX_FLOWS} (the draft's maximum)")
        for name, seconds, low in (("probe-interval", self.udp_interval_s, 0.001),
                                   ("foreign-interval", self.foreign_interval_s, 0.01),
                                   ("sample-interval", self.sample_interval_s, 0.01)):
            if not low <= seconds <= 10:
                raise RespConfigError(name, f"must be between {low:g} s and 10 s")
        if self.upload_bytes < 1:
            raise RespConfigError("upload-size", "must be at least 1 byte")
        if self.timeout_s <= 0:
            raise RespConfigError("timeout", "must be positive")
        if self.family not in ("auto", "4", "6"):
            raise RespConfigError("family", "must be auto, 4 or 6 (both runs the test once per family)")
        return self

    def plan(self) -> list[timeline.Phase]:
        return timeline.plan(self.phases, self.idle_s, self.load_s, self.gap_s, self.window_s)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
