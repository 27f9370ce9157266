"""A small blocking HTTP/1.1 client over the shared sans-IO parser, with a timing breakdown.

Times (monotonic): `connect` = DNS + TCP handshake; `ttfb` = request sent → first response byte;
`total` = start (before connect, or before the request on a reused connection) → last body byte.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from services.client.family import connect_tcp, version
from services.common.http1 import (
    Data,
    EndOfMessage,
    Headers,
    HTTPError,
    Response,
    ResponseParser,
    build_request_head,
    keep_alive,
)
from services.common.inet import AUTO, AddressError, format_authority, parse_authority

USER_AGENT = "qoslab-client/0.1"


class HttpClientError(Exception):
    """A request that produced no HTTP response; `kind` is a short class for error counts."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind


@dataclass(frozen=True)
class Target:
    """Where to connect and what to put in the request line."""

    host: str
    port: int
    request_target: str
    host_header: str


@dataclass(frozen=True)
class HttpResult:
    status: int
    headers: Headers
    body_bytes: int
    connect_ns: int       # 0 on a reused connection
    ttfb_ns: int
    total_ns: int
    reused: bool
    ip_version: int | None = None  # 4 or 6: the family of the connection that carried it

    @property
    def x_cache(self) -> str:
        return self.headers.get("X-Cache", "") or ""

    @property
    def goodput_bps(self) -> float:
        transfer_ns = self.total_ns - self.connect_ns
        return self.body_bytes * 8e9 / transfer_ns if transfer_ns > 0 else 0.0


def resolve_target(url: str, proxy: tuple[str, int] | None) -> Target:
    """Origin-form to the URL's host, or absolute-form to a forward proxy (not when it is the proxy).
    An IPv6 host is written `http://[fd00::10]:8000/` (a zone as `%25eth0`, RFC 6874)."""
    try:
        parts = urlsplit(url if "://" in url else "http://" + url)
        authority = parse_authority(parts.netloc)
    except AddressError as exc:
        raise ValueError(f"unsupported URL {url!r}: {exc.reason}") from None
    except ValueError as exc:  # urlsplit: brackets that do not close
        raise ValueError(f"unsupported URL {url!r}: {exc}") from None
    if parts.scheme != "http" or not authority.host:
        raise ValueError(f"unsupported URL {url!r} (http://HOST[:PORT]/PATH)")
    host = authority.host
    port = 80 if authority.port is None else authority.port
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = format_authority(host, port)
    if proxy is None or proxy == (host, port):
        return Target(host, port, path, host_header)
    return Target(proxy[0], proxy[1], f"http://{host_header}{path}", host_header)


def error_kind(exc: OSError) -> str:
    """The short class of a failed connection or request, as the error counts name it."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return "reset"
    if isinstance(exc, socket.gaierror):
        return "dns"
    return "os_error"


class HttpConnection:
    """One persistent connection; reconnects when the server closed it."""

    def __init__(self, host: str, port: int, timeout_s: float = 10.0, family: str = AUTO) -> None:
        self.host, self.port, self.timeout_s, self.family = host, port, timeout_s, family
        self._sock: socket.socket | None = None
        self.ip_version: int | None = None

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> HttpConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect(self) -> int:
        started = time.monotonic_ns()
        try:
            self._sock = connect_tcp(self.host, self.port, self.family, self.timeout_s)
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.ip_version = version(self._sock.family)
        except OSError as exc:
            raise HttpClientError(error_kind(exc), str(exc)) from exc
        return time.monotonic_ns() - started

    def request(self, target: Target, method: str = "GET", extra: list[tuple[str, str]] | None = None,
                ) -> HttpResult:
        started = time.monotonic_ns()
        reused = self._sock is not None
        connect_ns = 0 if reused else self._connect()
        head = build_request_head(method, target.request_target, [
            ("Host", target.host_header), ("User-Agent", USER_AGENT), *(extra or [])])
        try:
            return self._exchange(head, method, started, connect_ns, reused)
        except HttpClientError:
            self.close()
            if reused:  # the server may have closed an idle connection: one fresh attempt
                return self.request(target, method, extra)
            raise
        except OSError as exc:
            self.close()
            raise HttpClientError(error_kind(exc), str(exc)) from exc

    def _exchange(self, head: bytes, method: str, started: int, connect_ns: int, reused: bool) -> HttpResult:
        assert self._sock is not None
        self._sock.sendall(head)
        sent = time.monotonic_ns()
        parser = ResponseParser()
        parser.expect(method)
        first_byte = 0
        response: Response | None = None
        body = 0
        parser_eof = False
        while True:
            event = self._next(parser)
            if event is None:
                data = self._sock.recv(1 << 18)
                if not first_byte:
                    first_byte = time.monotonic_ns()
                if not data:
                    if response is None or parser_eof:
                        raise HttpClientError("closed", "connection closed before the response ended")
                    parser_eof = True
                    parser.feed_eof()
                else:
                    parser.feed(data)
                continue
            if isinstance(event, Response) and event.status >= 200:
                response = event
            elif isinstance(event, Data):
                body += len(event.data)
            elif isinstance(event, EndOfMessage) and response is not None:
                end = time.monotonic_ns()
                if not keep_alive(response.version, response.headers):
                    self.close()
                return HttpResult(response.status, response.headers, body, connect_ns,
                                  first_byte - sent, end - started, reused, self.ip_version)

    @staticmethod
    def _next(parser: ResponseParser) -> object:
        try:
            return parser.next_event()
        except HTTPError as exc:
            raise HttpClientError("protocol", exc.message) from exc


def fetch(url: str, proxy: tuple[str, int] | None = None, timeout_s: float = 10.0,
          method: str = "GET", family: str = AUTO) -> HttpResult:
    """One request on a fresh connection over `family` (services.client.family)."""
    target = resolve_target(url, proxy)
    with HttpConnection(target.host, target.port, timeout_s, family) as connection:
        return connection.request(target, method)
