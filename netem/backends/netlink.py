"""Netlink from the standard library: send a qdisc change, wait for the kernel's ack, raise its message.

The replayer's hot path. One RTM_NEWQDISC per change on one rtnetlink socket of the namespace the process
runs in; the bytes come from `netem.traces.netlink` (checked against tc's own). Measured against pyroute2
(bench/netem/bench_netlink.py): a change costs a few microseconds here, hundreds through pyroute2's
API, which misses a replay's one-millisecond budget on a loaded host (docs/traces.md).
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
from collections.abc import Sequence

from netem.core.errors import ApplyError
from netem.core.fields import Impairment
from netem.traces import netlink

SOL_NETLINK = 270
NETLINK_CAP_ACK, NETLINK_EXT_ACK = 10, 11
TIMEOUT_S = 2.0


class NetlinkError(ApplyError):
    """The kernel refused a change: `errno` and its own extended-ack message."""

    def __init__(self, message: str, *, code: int, kernel_message: str, target: str = "") -> None:
        self.errno = code
        self.kernel_message = kernel_message
        super().__init__(message, target=target, stderr=kernel_message)


class QdiscSocket:
    """An rtnetlink socket in this process's network namespace; use as a context manager."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        self.sock.bind((0, 0))
        for option in (NETLINK_CAP_ACK, NETLINK_EXT_ACK):
            with contextlib.suppress(OSError):  # older kernels: no extended ack, the errno alone
                self.sock.setsockopt(SOL_NETLINK, option, 1)
        self.sock.settimeout(TIMEOUT_S)
        self.seq = 0

    def __enter__(self) -> QdiscSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def request(self, message: bytes, seq: int, target: str) -> None:
        self.sock.send(message)
        while True:
            try:
                data = self.sock.recv(65536)
            except TimeoutError as exc:
                raise ApplyError(f"{target}: no answer from the kernel within {TIMEOUT_S:g}s",
                                 target=target) from exc
            ack = netlink.parse_ack(data, seq)
            if ack is None:
                continue
            code, kernel_message = ack
            if code:
                name = errno.errorcode.get(code, str(code))
                text = kernel_message or os.strerror(code)
                raise NetlinkError(f"{target}: the kernel refused the change ({name}): {text}", code=code,
                                   kernel_message=text, target=target)
            return

    def encode(self, index: int, imp: Impairment, *, verb: str = "change",
               handle: int = netlink.ROOT_HANDLE, parent: int = netlink.TC_H_ROOT,
               dist: Sequence[int] | None = None) -> tuple[int, bytes]:
        """(sequence number, message) setting the netem qdisc `handle` (under `parent`) to exactly `imp`."""
        self.seq += 1
        options = netlink.netem_options(imp, restate=True, dist=dist)
        message = netlink.qdisc_message(self.seq, index, options, verb=verb, handle=handle, parent=parent)
        return self.seq, message

    def netem(self, index: int, imp: Impairment, *, verb: str = "change", handle: int = netlink.ROOT_HANDLE,
              parent: int = netlink.TC_H_ROOT, dist: Sequence[int] | None = None, target: str = "") -> None:
        """Set the netem qdisc `handle` (under `parent`) of interface `index` to exactly `imp`."""
        seq, message = self.encode(index, imp, verb=verb, handle=handle, parent=parent, dist=dist)
        self.request(message, seq, target or f"ifindex {index}")

    def queues(self) -> list[netlink.QueueStats]:
        """Every qdisc of the namespace with its queue counters now (one dump, as `tc -s qdisc show`)."""
        self.seq += 1
        self.sock.send(netlink.qdisc_dump_message(self.seq))
        found: list[netlink.QueueStats] = []
        done = False
        while not done:
            try:
                data = self.sock.recv(1 << 16)
            except TimeoutError as exc:
                raise ApplyError(f"no end to a qdisc dump within {TIMEOUT_S:g}s") from exc
            batch, done = netlink.parse_qdisc_dump(data, self.seq)
            found += batch
        return found


def interface_index(dev: str) -> int:
    try:
        return socket.if_nametoindex(dev)
    except OSError as exc:
        raise ApplyError(f"no interface {dev!r} in this network namespace", target=dev) from exc
