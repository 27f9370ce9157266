"""The Debian mirror to debootstrap from: the host's own apt sources, or an environment override.

    python3 -m netem.tools.aptsources [--suite bookworm] [--env NAME]   → prints the mirror URI (exit 1: none)

Used by scripts/offline-base-image (the offline Docker base image) and `netem.vm.host.rootfs` (the VM's root
file system), so both download from wherever this machine's apt already does; no host name is written
in the tree. Sources: `/etc/apt/sources.list.d/*.sources` (deb822: `Types:`, `URIs:`, `Suites:`,
`Enabled:`) and `/etc/apt/sources.list` plus `sources.list.d/*.list` (one-line `deb [opts] URI SUITE …`).
The first `deb` entry that carries the wanted suite wins; otherwise the first `deb` entry for a main
suite (not -security, -updates, -backports).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

APT_DIR = Path("/etc/apt")
DEFAULT_SUITE = "bookworm"
SCHEMES = ("http://", "https://", "ftp://", "file:/")
SIDE_SUITES = ("-security", "-updates", "-backports", "-proposed")


class MirrorError(RuntimeError):
    """No usable mirror: no override and nothing in apt's sources."""


@dataclass(frozen=True)
class Source:
    uri: str
    suites: tuple[str, ...]


def parse_deb822(text: str) -> list[Source]:
    """deb822 `.sources` text → its enabled `deb` entries (first URI of each)."""
    found: list[Source] = []
    for stanza in _stanzas(text):
        types = stanza.get("types", "").split()
        uris = [u for u in stanza.get("uris", "").split() if u.startswith(SCHEMES)]
        if "deb" in types and uris and stanza.get("enabled", "yes").lower() != "no":
            found.append(Source(uris[0].rstrip("/"), tuple(stanza.get("suites", "").split())))
    return found


def _stanzas(text: str) -> Iterable[dict[str, str]]:
    fields: dict[str, str] = {}
    last = ""
    for raw in [*text.splitlines(), ""]:
        line = raw.rstrip()
        if line.startswith("#"):
            continue
        if not line:
            if fields:
                yield fields
            fields, last = {}, ""
        elif line[0].isspace() and last:  # a continuation line
            fields[last] += " " + line.strip()
        elif ":" in line:
            name, _, value = line.partition(":")
            last = name.strip().lower()
            fields[last] = value.strip()


def parse_one_line(text: str) -> list[Source]:
    """`sources.list` text → its `deb` lines (options in brackets skipped)."""
    found: list[Source] = []
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split()
        if not words or words[0] != "deb":
            continue
        words = words[1:]
        if words and words[0].startswith("["):
            while words and not words[0].endswith("]"):
                words = words[1:]
            words = words[1:]
        if len(words) >= 2 and words[0].startswith(SCHEMES):
            found.append(Source(words[0].rstrip("/"), (words[1],)))
    return found


def read_sources(apt_dir: Path = APT_DIR) -> list[Source]:
    """Every `deb` entry of the host's apt configuration, deb822 files first."""
    found: list[Source] = []
    listd = apt_dir / "sources.list.d"
    for path in sorted(listd.glob("*.sources")) if listd.is_dir() else []:
        found += parse_deb822(path.read_text(encoding="utf-8", errors="replace"))
    one_line = [apt_dir / "sources.list", *(sorted(listd.glob("*.list")) if listd.is_dir() else [])]
    for path in one_line:
        if path.is_file():
            found += parse_one_line(path.read_text(encoding="utf-8", errors="replace"))
    return found


def choose(sources: Sequence[Source], suite: str = DEFAULT_SUITE) -> str | None:
    """The mirror for `suite`: an entry that lists it, else the first entry of a main suite."""
    for source in sources:
        if suite in source.suites:
            return source.uri
    for source in sources:
        if any(not s.endswith(SIDE_SUITES) for s in source.suites):
            return source.uri
    return None


def debian_mirror(env: Mapping[str, str], env_name: str, suite: str = DEFAULT_SUITE,
                  apt_dir: Path = APT_DIR) -> str:
    """`env[env_name]` when set, else the host's apt mirror; MirrorError names both ways to fix it."""
    override = env.get(env_name, "").strip()
    if override:
        return override
    found = choose(read_sources(apt_dir), suite)
    if found is None:
        raise MirrorError(f"no Debian mirror in {apt_dir}/sources.list.d/*.sources or "
                          f"{apt_dir}/sources.list; set {env_name}=URI")
    return found


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None,
         apt_dir: Path = APT_DIR) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m netem.tools.aptsources", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default=DEFAULT_SUITE, help="Debian suite (default: %(default)s)")
    parser.add_argument("--env", default="QOSLAB_DEBIAN_MIRROR", help="override variable (%(default)s)")
    args = parser.parse_args(argv)
    try:
        print(debian_mirror(os.environ if env is None else env, args.env, args.suite, apt_dir))
    except MirrorError as exc:
        print(f"aptsources: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
