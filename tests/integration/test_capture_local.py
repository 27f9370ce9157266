"""The capture shell for real on this host's loopback: nsenter into our own network namespace, tcpdump
until stopped, a complete pcap that the reader (and tshark) can open. As root; otherwise the capture
must refuse with the reason."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from netem.commands.capture import CaptureError, tcpdump_argv
from netem.commands.capture_run import RunningCapture, check_tools
from netem.tools.pcap import read_pcap


def test_loopback_capture_is_complete_and_readable(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        with pytest.raises(CaptureError, match=r"needs root|not found"):
            check_tools()
        return
    check_tools()
    path = tmp_path / "lo.pcap"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        receiver.bind(("127.0.0.1", 0))
        port = receiver.getsockname()[1]
        capture = RunningCapture(tcpdump_argv(os.getpid(), "lo", path, bpf=f"udp port {port}"), path)
        capture.wait_listening()
        for seq in range(5):
            sender.sendto(b"qoslab-%d" % seq, ("127.0.0.1", port))
            receiver.recv(100)
        result = capture.stop()
    assert result.captured == 5, capture.lines
    packets = list(read_pcap(path.read_bytes()))
    assert [(p.dst, p.dport, p.payload) for p in packets] == [("127.0.0.1", port, b"qoslab-%d" % i)
                                                              for i in range(5)]
    if shutil.which("tshark"):
        shown = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "udp.dstport"],
                               capture_output=True, text=True, timeout=120, check=True)
        assert shown.stdout.split() == [str(port)] * 5


def test_a_bad_filter_fails_with_tcpdumps_words(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("covered by the test above: without root the capture refuses before tcpdump runs")
    path = tmp_path / "bad.pcap"
    capture = RunningCapture(tcpdump_argv(os.getpid(), "lo", path, bpf="udp prot 9"), path)
    with pytest.raises(CaptureError, match=r"did not start capturing.*syntax error"):
        capture.wait_listening(timeout_s=15)
    assert not path.exists()
