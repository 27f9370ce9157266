"""Fixtures of the client's integration tests: the impairment relay + echo as a separate process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@dataclass
class Impaired:
    echo_port: int
    relay_port: int
    plan: dict[str, list[int]]


@pytest.fixture
def impaired() -> Iterator[Callable[..., Impaired]]:
    procs: list[subprocess.Popen[str]] = []

    def start(**flags: float) -> Impaired:
        argv = [sys.executable, str(HERE / "impair.py")]
        for name, value in flags.items():
            argv += [f"--{name.replace('_', '-')}", str(value)]
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        fields = dict(part.split("=", 1) for part in line.strip().split(" ", 2))
        return Impaired(int(fields["echo"]), int(fields["relay"]), json.loads(fields["plan"]))

    yield start
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
