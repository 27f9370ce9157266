"""Does the kernel have sch_netem (or sch_fq_codel, sch_cake)? The one probe tests, scripts and tools ask.

It adds a netem qdisc to the loopback interface of a throwaway network namespace, so nothing of the
host's own networking is touched: either a namespace made for the probe (`probe_host`, needs root), or
a throwaway container of one of the project's images (`probe_docker`, the kernel the containers run on).
`python -m netem.tools.capability [--docker IMAGE] [--qdisc KIND]` (KIND: netem, the default, fq_codel,
cake, pfifo) exits 0 when the qdisc works, 1 when the kernel lacks it,
2 when the probe could not tell (no root, no tc, no Docker), and says which on stdout.
"""

from __future__ import annotations

import argparse
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

TC_ARGS = ("qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms")
QDISCS = ("netem", "fq_codel", "cake", "pfifo")


def tc_args(kind: str = "netem") -> tuple[str, ...]:
    """tc arguments that add a `kind` qdisc to the loopback (netem with a 1 ms delay)."""
    return TC_ARGS if kind == "netem" else (*TC_ARGS[:5], kind)


MISSING_MARKERS = ("Specified qdisc kind is unknown", "Unknown qdisc", "qdisc kind is unknown")
TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Capability:
    netem: bool | None  # None: the probe could not tell
    detail: str

    @property
    def exit_code(self) -> int:
        return {True: 0, False: 1, None: 2}[self.netem]


def classify(returncode: int, stderr: str, kind: str = "netem") -> Capability:
    """tc's answer to adding a `kind` qdisc → whether the kernel has its module (sch_KIND)."""
    if returncode == 0:
        return Capability(True, f"sch_{kind} works")
    text = stderr.strip()
    if any(marker in text for marker in MISSING_MARKERS):
        return Capability(False, f"no sch_{kind} in this kernel (tc said: {text!r})")
    return Capability(None, f"could not probe (exit {returncode}): {text[:300]!r}")


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(list(argv), capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except FileNotFoundError as exc:
        return subprocess.CompletedProcess(list(argv), 127, "", f"{argv[0]}: {exc.strerror}")
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(list(argv), 124, "", f"{argv[0]} timed out")


def probe_host(kind: str = "netem") -> Capability:
    """A namespace made for the probe and removed after it (root)."""
    name = f"qoslab-probe-{os.getpid()}"
    made = _run(["ip", "netns", "add", name])
    if made.returncode != 0:
        return Capability(None, f"could not make a namespace to probe in: {made.stderr.strip()!r}")
    try:
        done = _run(["ip", "netns", "exec", name, "tc", *tc_args(kind)])
        return classify(done.returncode, done.stderr, kind)
    finally:
        _run(["ip", "netns", "delete", name])


def probe_docker(image: str, kind: str = "netem") -> Capability:
    """A throwaway container of `image` (no network, only its own loopback): the containers' kernel."""
    done = _run(["docker", "run", "--rm", "--network", "none", "--cap-add", "NET_ADMIN", "--user", "0",
                 "--entrypoint", "tc", image, *tc_args(kind)])
    if done.returncode == 125 or "Unable to find image" in done.stderr:
        return Capability(None, f"docker could not run {image}: {done.stderr.strip()[:300]!r}")
    return classify(done.returncode, done.stderr, kind)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m netem.tools.capability", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docker", metavar="IMAGE", help="probe in a throwaway container of IMAGE")
    parser.add_argument("--qdisc", choices=QDISCS, default="netem", help="the qdisc to probe (default netem)")
    args = parser.parse_args(argv)
    found = probe_docker(args.docker, args.qdisc) if args.docker else probe_host(args.qdisc)
    answer = "yes" if found.netem else "no" if found.netem is False else "unknown"
    print(f"{args.qdisc}={answer} {found.detail}")
    return found.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
