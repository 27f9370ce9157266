"""Batched datagram I/O for the UDP relay: Linux `recvmmsg`/`sendmmsg` through `ctypes` (standard library
only). A `MessageRing` holds preallocated message headers over fixed slot buffers: one receive fills up to
`slots` datagrams with one system call, and one send hands a run of them, unchanged, to another socket —
the payloads never become Python objects. Where the calls are missing (not Linux, no such libc symbol)
`available()` is False and the relay keeps its one-call-per-datagram path.

Layout facts used for speed: the headers are one C array, viewed as unsigned 32-bit words, so the lengths
the kernel reports for n datagrams are one strided slice (`lengths(n)`), copied into the send headers'
`iov_len` words with one slice assignment (no per-datagram Python work)."""

from __future__ import annotations

import array
import ctypes
import mmap
import sys
from collections.abc import Callable
from typing import Any

MSG_DONTWAIT = 0x40
SLOT_BYTES = 65536  # any UDP payload fits: a datagram is never truncated


class _IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class _MsgHdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32), ("iov", ctypes.c_void_p),
                ("iovlen", ctypes.c_size_t), ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]


class _MMsgHdr(ctypes.Structure):
    _fields_ = [("hdr", _MsgHdr), ("len", ctypes.c_uint32)]


_WORD = 4
_HDR_BYTES = ctypes.sizeof(_MMsgHdr)
_STRIDE = ctypes.sizeof(_MMsgHdr) // _WORD  # 32-bit words per message header
_LEN_AT = _MMsgHdr.len.offset // _WORD  # the kernel's byte count of a message
_NAMELEN_AT = _MsgHdr.namelen.offset // _WORD
_IOV_STRIDE = ctypes.sizeof(_IoVec) // _WORD
# the low 32 bits of iov_len (size_t): lengths are < 2**32, the high word stays 0
_IOV_LEN_AT = _IoVec.len.offset // _WORD + (
    1 if sys.byteorder == "big" and ctypes.sizeof(ctypes.c_size_t) == 8 else 0)

SysCall = Callable[..., int]


def _bind() -> tuple[SysCall, SysCall] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        recv, send = libc.recvmmsg, libc.sendmmsg
    except (OSError, AttributeError):
        return None
    recv.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p]
    recv.restype = ctypes.c_int
    send.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
    send.restype = ctypes.c_int
    return recv, send


_CALLS = _bind()


def available() -> bool:
    return _CALLS is not None


def _words(headers: ctypes.Array[Any]) -> memoryview:
    return memoryview(headers).cast("B").cast("I")


class _Headers:
    """`slots` message headers, each with one iovec over one slot buffer, optionally with a name buffer."""

    def __init__(self, bases: list[int], slot_bytes: int, names: tuple[int, int, int] | None) -> None:
        """`names`: (address of the first name buffer, bytes per name, namelen to announce)."""
        slots = len(bases)
        self.hdrs = (_MMsgHdr * slots)()
        self.iovs = (_IoVec * slots)()
        for i, base in enumerate(bases):
            self.iovs[i].base, self.iovs[i].len = base, slot_bytes
            hdr = self.hdrs[i].hdr
            hdr.iov, hdr.iovlen = ctypes.addressof(self.iovs[i]), 1
            if names is not None:
                hdr.name, hdr.namelen = names[0] + i * names[1], names[2]
        self.address = ctypes.addressof(self.hdrs)
        self.words = _words(self.hdrs)
        self.iov_words = _words(self.iovs)


class MessageRing:
    """Slot buffers plus the four header arrays the relay needs: receive on the shared client socket (with
    the sender's address), receive on a connected socket (a session's upstream or reply socket), send on a
    connected socket, send to one client address. All four share the slots, so a received batch is sent
    on without a copy."""

    def __init__(self, slots: int = 64, name_len: int = 16, slot_bytes: int = SLOT_BYTES) -> None:
        """`name_len`: the client socket's address length (16 for IPv4, 28 for IPv6; fixed per socket)."""
        if _CALLS is None:
            raise OSError("recvmmsg/sendmmsg are not available")
        self._recv, self._send = _CALLS
        self.slots, self.name_len = slots, name_len
        self._mem = mmap.mmap(-1, slots * slot_bytes)  # pages are touched only as datagrams fill them
        self._mem_ref = ctypes.c_char.from_buffer(self._mem)
        base = ctypes.addressof(self._mem_ref)
        self.payloads = memoryview(self._mem)
        self.slot_bytes = slot_bytes
        bases = [base + i * slot_bytes for i in range(slots)]
        # the senders' addresses back to back, `name_len` bytes each (the kernel writes no more), so the
        # addresses of n datagrams are one bytes object and "all from one client" is one comparison
        self._names = ctypes.create_string_buffer(slots * name_len)
        self.names = memoryview(self._names).cast("B")
        self._dest = ctypes.create_string_buffer(name_len)
        self._dest_view = memoryview(self._dest).cast("B")
        self.from_clients = _Headers(bases, slot_bytes, (ctypes.addressof(self._names), name_len, name_len))
        self.up = _Headers(bases, slot_bytes, None)
        self.from_connected = _Headers(bases, slot_bytes, None)
        self.down = _Headers(bases, slot_bytes, (ctypes.addressof(self._dest), 0, name_len))
        self._full_names = memoryview(array.array("I", [name_len] * slots))

    def recv_clients(self, fd: int) -> int:
        """Datagrams read from the client socket into slots 0…n-1 (0 when none is waiting); -errno on error.
        Their senders: `name(i)`; their sizes: `client_lengths(n)`."""
        got = self._recv(fd, self.from_clients.address, self.slots, MSG_DONTWAIT, None)
        if got < 0:
            return -ctypes.get_errno()
        return got

    def reset_names(self, count: int) -> None:
        """The kernel shortened each used header's namelen to the address it wrote: restore it."""
        words = self.from_clients.words
        words[_NAMELEN_AT:count * _STRIDE:_STRIDE] = self._full_names[:count]

    def senders(self, count: int) -> bytes:
        """The raw addresses of datagrams 0…count-1, `name_len` bytes each."""
        return bytes(self.names[:count * self.name_len])

    def payload(self, index: int, length: int) -> bytes:
        """A copy of one slot's datagram (only for datagrams that must wait: no session yet)."""
        start = index * self.slot_bytes
        return bytes(self.payloads[start:start + length])

    def client_lengths(self, count: int) -> memoryview:
        return self.from_clients.words[_LEN_AT:count * _STRIDE:_STRIDE]

    def send_up(self, fd: int, start: int, count: int) -> int:
        """Send slots start…start+count-1 (as received from clients) on a connected socket; returns how many
        went (≥ 1) or -errno for the first that did not."""
        return self._send_slots(self.from_clients, self.up, fd, start, count)

    def recv_connected(self, fd: int) -> int:
        """Datagrams read from a connected socket (a session's upstream or reply socket) into slots 0…n-1;
        0 if none; -errno on error."""
        got = self._recv(fd, self.from_connected.address, self.slots, MSG_DONTWAIT, None)
        if got < 0:
            return -ctypes.get_errno()
        return got

    def connected_lengths(self, count: int) -> memoryview:
        return self.from_connected.words[_LEN_AT:count * _STRIDE:_STRIDE]

    def send_connected(self, fd: int, start: int, count: int) -> int:
        """Send slots start…start+count-1 (as received by `recv_connected`) on a connected socket."""
        return self._send_slots(self.from_connected, self.up, fd, start, count)

    def send_down(self, fd: int, name: bytes, start: int, count: int) -> int:
        """Send slots start…start+count-1 (as received by `recv_connected`) to the client address `name`
        (raw sockaddr); returns how many went (≥ 1) or -errno for the first that did not."""
        self._dest_view[:len(name)] = name
        return self._send_slots(self.from_connected, self.down, fd, start, count)

    def _send_slots(self, source: _Headers, out: _Headers, fd: int, start: int, count: int) -> int:
        """The lengths `source` received become `out`'s iov lengths (one strided slice copy), then one
        sendmmsg of those slots."""
        out.iov_words[start * _IOV_STRIDE + _IOV_LEN_AT:(start + count) * _IOV_STRIDE:_IOV_STRIDE] = \
            source.words[start * _STRIDE + _LEN_AT:(start + count) * _STRIDE:_STRIDE]
        return self._checked(self._send(fd, out.address + start * _HDR_BYTES, count, MSG_DONTWAIT))

    @staticmethod
    def _checked(sent: int) -> int:
        return sent if sent >= 0 else -ctypes.get_errno()

    def close(self) -> None:
        for view in (self.payloads, self.names, self._dest_view, self._full_names):
            view.release()
        for headers in (self.from_clients, self.up, self.from_connected, self.down):
            headers.words.release()
            headers.iov_words.release()
        del self._mem_ref
        self._mem.close()
