"""Packet captures of one link end, from outside the services (pure part: names, argv, tcpdump's words).

    python -m netem capture edge                       the proxy's edge end until Ctrl-C
    python -m netem capture core --service server --duration 10s --filter "udp port 9000"
    python -m netem capture edge --count 100 -o /tmp/edge.pcap

Two ways, one result: on the Docker host as root with tcpdump and nsenter installed, the host's tcpdump
runs inside the container's network namespace (`nsenter --net`); anywhere else (`docker compose run
--rm netem capture edge`, a host without tcpdump or root) tcpdump runs in a sidecar container of the
controller image that shares the target's network namespace, and the pcap is copied out when it stops
(`--via host|container` chooses; the service images stay as they are either way). Default output:
`RESULTS/captures/LINK-SIDE-YYYYmmddTHHMMSSZ.pcap` (RESULTS: $QOSLAB_RESULTS, else ./results).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from netem import topology
from netem.core.errors import NetemError
from netem.core.links import service_links
from netem.core.profile import LINKS
from netem.core.units import parse_seconds

DEFAULT_SIDE = "proxy"  # on both links, and always running while the stack is up
SNAPLEN_B = 65535
_CAPTURED = re.compile(r"(\d+) packets? captured")
_DROPPED = re.compile(r"(\d+) packets? dropped by kernel")


class CaptureError(NetemError):
    """A capture could not start or failed; `stderr` is tcpdump's (or nsenter's) own message."""

    def __init__(self, message: str, stderr: str = "") -> None:
        self.stderr = stderr.strip()
        super().__init__(message + (f": {self.stderr}" if self.stderr else ""))


@dataclass(frozen=True)
class CaptureSpec:
    link: str
    side: str
    duration_s: float | None = None
    count: int | None = None
    bpf: str = ""
    output: Path | None = None


def make_spec(link: str, side: str | None = None, duration: str | None = None, count: int | None = None,
              bpf: str = "", output: str | None = None) -> CaptureSpec:
    """Validate what the user asked for; every error names the option and the allowed values."""
    if link not in LINKS:
        raise CaptureError(f"link {link!r}: expected one of {', '.join(LINKS)}")
    side = side or DEFAULT_SIDE
    if side not in topology.SERVICES or link not in service_links(side):
        ends = [svc for svc in topology.SERVICES if link in service_links(svc)]
        raise CaptureError(f"--service {side!r} has no end on {link}; {link} joins {' and '.join(ends)}")
    duration_s = None
    if duration is not None:
        duration_s = parse_seconds(duration)
        if duration_s is None or duration_s <= 0:
            raise CaptureError(f"--duration {duration!r}: expected a positive time like 10s or 500ms")
    if count is not None and count < 1:
        raise CaptureError(f"--count {count}: expected a whole number of packets, at least 1")
    if duration_s is not None and count is not None:
        raise CaptureError("--duration and --count: give one of them (or neither, to stop with Ctrl-C)")
    return CaptureSpec(link, side, duration_s, count, bpf.strip(), Path(output) if output else None)


def results_dir(env: dict[str, str] | None = None, repo: Path | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    return Path(env.get("QOSLAB_RESULTS") or (repo or Path.cwd()) / "results")


def default_path(directory: Path, link: str, side: str, now_s: float, tag: str = "") -> Path:
    """`DIR/captures/[TAG-]LINK-SIDE-20261201T154700Z.pcap`."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now_s))
    prefix = f"{tag}-" if tag else ""
    return directory / "captures" / f"{prefix}{link}-{side}-{stamp}.pcap"


def tcpdump_args(dev: str, output: str, count: int | None = None, bpf: str = "") -> list[str]:
    """tcpdump's own arguments. `--immediate-mode` takes each packet from the kernel at once (else packets
    still in the ring when it stops are lost) and `-U` writes it at once; `-Z root` keeps it from
    switching to the tcpdump user, which could not write to the results directory."""
    args = ["-i", dev, "-n", "-s", str(SNAPLEN_B), "--immediate-mode", "-U", "-Z", "root", "-w", output]
    if count is not None:
        args += ["-c", str(count)]
    return [*args, *([bpf] if bpf else [])]


def tcpdump_argv(netns: int | str, dev: str, output: Path, count: int | None = None,
                 bpf: str = "") -> list[str]:
    """The host's tcpdump in a network namespace: a process's (`netns` a pid) or a namespace file
    (`netns` a path, e.g. Docker's SandboxKey)."""
    path = f"/proc/{netns}/ns/net" if isinstance(netns, int) else netns
    return ["nsenter", f"--net={path}", "--", "tcpdump", *tcpdump_args(dev, str(output), count, bpf)]


def is_listening(stderr_line: str) -> bool:
    """tcpdump's line once the capture is open: `tcpdump: listening on eth0, link-type EN10MB …` (with
    `-w`; without it the `tcpdump: ` prefix is missing)."""
    return stderr_line.removeprefix("tcpdump: ").startswith("listening on ")


@dataclass(frozen=True)
class CaptureResult:
    path: Path
    captured: int | None
    dropped: int | None


def parse_summary(path: Path, stderr: str) -> CaptureResult:
    """tcpdump's closing lines: `12 packets captured`, `0 packets dropped by kernel`."""
    captured, dropped = _CAPTURED.search(stderr), _DROPPED.search(stderr)
    return CaptureResult(path, int(captured[1]) if captured else None, int(dropped[1]) if dropped else None)
