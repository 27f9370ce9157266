"""A throwaway network namespace with a veth pair (v0, v1), deleted afterwards: for tests of what the kernel
does with a qdisc message (the namespace keeps the host's interfaces out of reach)."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator

import pytest


@pytest.fixture
def namespace() -> Iterator[str]:
    name = f"qlv{os.getpid()}{uuid.uuid4().hex[:4]}"
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=10)
    try:
        subprocess.run(["ip", "-n", name, "link", "add", "v0", "type", "veth", "peer", "name", "v1"],
                       check=True, timeout=10)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], timeout=10, check=False)
