"""The netem state a stack shares: the profile in force, client registrations, agents' status, the epoch.

A directory every service mounts (compose: the tmpfs volume `netem-state` at /run/qoslab/netem, so it
lives exactly as long as the stack does; `NETEM_STATE_DIR` moves it):

    in-force.json            {"name", "file", "dir", "epoch_ns", "applied_ns"}: the profile the controller
    in-force-<stamp>/FILE…   applied last, with every file it refers to (containers started later read it)
    epoch                    the trace epoch of a stack started with NETEM_PROFILE (the first start claims it)
    clients/<host>.json      a client replica: its edge address, replica number and condition
    clients/<host>.ready     the proxy's agent has its per-destination leaf in place
    status/<host>.json       an agent's replay status (schedule lateness, changes, ends)

The controller writes with the Docker API (a tar through `put_archive`, no shell in the target), the
containers with plain files. Readers tolerate a half-written file (a retry reads it whole).
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATE_ENV = "NETEM_STATE_DIR"
DEFAULT_STATE_DIR = "/run/qoslab/netem"
POINTER = "in-force.json"
NONE = "none"


def state_dir(env: Mapping[str, str]) -> Path:
    return Path(env.get(STATE_ENV) or DEFAULT_STATE_DIR)


@dataclass(frozen=True)
class InForce:
    """The profile in force: its name, its file inside the state directory (None: `none`), its epoch."""

    name: str
    path: Path | None
    epoch_ns: int | None


def _read_json(path: Path, tries: int = 1, pause: Callable[[float], None] = time.sleep) -> Any:
    """The file's JSON; None when missing or (after `tries` reads) not whole."""
    for attempt in range(tries):
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, UnicodeDecodeError):
            if attempt + 1 < tries:
                pause(0.02)  # a writer is half way through (a tar extracts in place); read it again
    return None


def read_in_force(root: Path) -> InForce | None:
    """What the controller applied last, or None when it never applied anything to this stack."""
    data = _read_json(root / POINTER, tries=10)
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        return None
    if data["name"] == NONE or not data.get("file"):
        return InForce(NONE, None, None)
    epoch = data.get("epoch_ns")
    return InForce(data["name"], root / str(data["dir"]) / str(data["file"]),
                   int(epoch) if isinstance(epoch, int) else None)


def in_force_tar(name: str, files: Mapping[str, bytes], main_file: str, epoch_ns: int | None,
                 now_ns: int) -> bytes:
    """A tar (for `put_archive` into the state directory) of the bundle, pointer last."""
    bundle_dir = f"in-force-{now_ns}"
    pointer = {"name": name, "file": main_file if files else "", "dir": bundle_dir if files else "",
               "epoch_ns": epoch_ns, "applied_ns": now_ns}
    entries = [(f"{bundle_dir}/{rel}", data) for rel, data in sorted(files.items())]
    entries.append((POINTER, json.dumps(pointer).encode()))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for path, data in entries:
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, now_ns // 10**9
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write whole: a temporary file renamed over the old one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(json.dumps(data), encoding="utf-8")
    temporary.replace(path)


def claim_epoch(root: Path, proposed_ns: int) -> int:
    """The stack's trace epoch: the first container to ask sets it, every later one reads it."""
    path = root / "epoch"
    try:
        root.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as handle:
            handle.write(str(proposed_ns))
        return proposed_ns
    except FileExistsError:
        for _ in range(50):
            text = path.read_text(encoding="utf-8").strip()
            if text:
                return int(text)
            time.sleep(0.01)
        return proposed_ns


@dataclass(frozen=True)
class Registration:
    host: str
    address: str
    index: int
    condition: str
    registered_ns: int = 0  # when: an address freed by a replica that left goes to the next one
    address6: str = ""  # its IPv6 address on a dual-stack edge (the proxy's leaves cover both families)


def register_client(root: Path, reg: Registration) -> None:
    """Register a replica; earlier holders of its address (containers gone) are forgotten, ready marks too."""
    write_json(root / "clients" / f"{reg.host}.json", reg.__dict__)
    for old in _all_registrations(root):
        if old.address == reg.address and old.host != reg.host:
            for suffix in (".json", ".ready"):
                (root / "clients" / f"{old.host}{suffix}").unlink(missing_ok=True)


def _all_registrations(root: Path) -> list[Registration]:
    found = []
    for path in sorted((root / "clients").glob("*.json")):
        data = _read_json(path)
        if isinstance(data, dict):
            try:
                found.append(Registration(str(data["host"]), str(data["address"]), int(data["index"]),
                                          str(data["condition"]), int(data.get("registered_ns", 0)),
                                          str(data.get("address6") or "")))
            except (KeyError, ValueError):
                continue
    return found


def registrations(root: Path) -> list[Registration]:
    """The registered replicas, one per address: its latest holder (compose hands a freed address on)."""
    latest: dict[str, Registration] = {}
    for reg in _all_registrations(root):
        if reg.address not in latest or reg.registered_ns >= latest[reg.address].registered_ns:
            latest[reg.address] = reg
    return sorted(latest.values(), key=lambda r: (r.registered_ns, r.host))


def mark_ready(root: Path, host: str) -> None:
    write_json(root / "clients" / f"{host}.ready", {"ready_ns": time.time_ns()})


def is_ready(root: Path, host: str) -> bool:
    return (root / "clients" / f"{host}.ready").exists()


def write_status(root: Path, host: str, status: Mapping[str, Any]) -> None:
    write_json(root / "status" / f"{host}.json", status)


def statuses(root: Path) -> list[dict[str, Any]]:
    return [data for path in sorted((root / "status").glob("*.json"))
            if isinstance(data := _read_json(path), dict)]
