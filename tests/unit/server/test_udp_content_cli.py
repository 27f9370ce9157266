"""UDP echo with a fake transport and clock, content generation, CLI defaults."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from netem import topology
from services.common.clock import FakeClock
from services.common.config import build_parser
from services.common.probe import Probe, decode, encode
from services.server import cli, content
from services.server.app import ServerConfig
from services.server.options import OPTIONS
from services.server.stats import Stats
from services.server.udp import UdpEcho


class FakeDatagramTransport(asyncio.DatagramTransport):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[bytes, Any]] = []

    def sendto(self, data: Any, addr: Any = None) -> None:
        self.sent.append((bytes(data), addr))


def test_echo_stamps_probes_and_echoes_the_rest() -> None:
    stats, clock, transport = Stats(0.0), FakeClock(), FakeDatagramTransport()
    echo = UdpEcho(stats, clock)
    echo.connection_made(transport)
    echo.datagram_received(encode(Probe(1, 2, 3), 64), ("10.0.0.1", 5))
    echo.datagram_received(b"hello", ("10.0.0.2", 6))
    reply = decode(transport.sent[0][0])
    assert reply.is_stamped and reply.server_recv_ns == clock.wall == reply.server_send_ns
    assert transport.sent[1] == (b"hello", ("10.0.0.2", 6))
    assert (stats.udp_datagrams, stats.udp_probes, stats.udp_bytes) == (2, 1, 69)
    echo.pause_writing()
    echo.datagram_received(b"x", ("10.0.0.2", 6))
    assert stats.udp_dropped == 1 and len(transport.sent) == 2


def test_content_is_idempotent_and_deterministic(tmp_path: Path) -> None:
    sizes = {"a.bin": 3000, "b.bin": (1 << 20) + 5}
    assert len(content.generate(str(tmp_path), sizes)) == 2
    assert content.generate(str(tmp_path), sizes) == []
    data = (tmp_path / "generated" / "b.bin").read_bytes()
    assert len(data) == (1 << 20) + 5 and data[:3000] == (tmp_path / "generated" / "a.bin").read_bytes()
    assert content.main([]) == 2


def test_cli_defaults_and_env() -> None:
    args = build_parser("x", "y", OPTIONS, environ={"SERVER_HTTP_PORT": "0"}).parse_args([])
    config = cli.config_from_args(args)
    assert (config.http_port, config.udp_port, config.bind) == (0, topology.port("server", "udp"), "any")
    assert Path(config.root).name == "www" and not config.listing
    assert cli.main(["--bogus"]) == 2


def test_the_config_defaults_are_the_option_tables() -> None:
    """One source per default: `ServerConfig()` is what the command line gives with nothing set."""
    assert cli.config_from_args(build_parser("x", "y", OPTIONS, environ={}).parse_args([])) == ServerConfig()

