"""Headless Chromium through the published proxy port: pages render, the proxy's cache and the browser's
own cache behave as docs/server.md says, and a screenshot of the index page is kept as an artifact."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from netem import topology

from .browser_checks import check_all
from .cdp import chromium, chromium_path
from .conftest import Stack, artifacts_dir

READ_STATS = ("import sys, urllib.request; "
              f"sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:{topology.port('proxy', 'http')}"
              "/_proxy/stats').read().decode())")


def _proxy_stats(stack: Stack) -> dict[str, Any]:
    """/_proxy/stats asked from inside the proxy container (loopback: always in --stats-allow)."""
    done = stack.exec("proxy", "python3", "-c", READ_STATS)
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def test_chromium_through_the_proxy(stack: Stack) -> None:
    binary = chromium_path()
    if binary is None:
        reason = "chromium not found (scripts/test installs Debian's chromium package)"
        if os.environ.get("QOSLAB_REQUIRE_DOCKER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    with chromium(binary) as browser:
        base = f"http://127.0.0.1:{stack.proxy_port}"
        shot = check_all(browser, base, lambda: _proxy_stats(stack), artifacts_dir() / "browser-index.png")
    print(f"screenshot: {shot}")
