"""Headless Chromium (in its container, tests/compose/cdp.py) through the published proxy port: pages
render, the proxy's cache and the browser's
own cache behave as docs/server.md says, and a screenshot of the index page is kept as an artifact."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import pytest

from netem import topology

from .browser_checks import check_all
from .cdp import BROWSER_ENV, build_browser_image, chromium, chromium_path, container_argv
from .conftest import Stack, artifacts_dir

READ_STATS = ("import sys, urllib.request; "
              f"sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:{topology.port('proxy', 'http')}"
              "/_proxy/stats').read().decode())")


def _proxy_stats(stack: Stack) -> dict[str, Any]:
    """/_proxy/stats asked from inside the proxy container (loopback: always in --stats-allow)."""
    done = stack.exec("proxy", "python3", "-c", READ_STATS)
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def browser_command() -> list[str]:
    """Chromium in its container (default), or the host's with QOSLAB_BROWSER=host."""
    if os.environ.get(BROWSER_ENV, "container") == "host":
        binary = chromium_path()
        if binary is None:
            pytest.fail(f"{BROWSER_ENV}=host but no chromium on this host (apt-get install chromium)")
        return [binary]
    return container_argv(build_browser_image(), f"qoslab-browser-{uuid.uuid4().hex[:8]}")


def test_chromium_through_the_proxy(stack: Stack) -> None:
    with chromium(browser_command()) as browser:
        base = f"http://127.0.0.1:{stack.proxy_port}"
        shot = check_all(browser, base, lambda: _proxy_stats(stack), artifacts_dir() / "browser-index.png")
    print(f"screenshot: {shot}")
