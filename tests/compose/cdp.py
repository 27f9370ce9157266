"""Headless Chromium (Debian's `chromium`) driven over the DevTools protocol: enough for the browser test.

It runs in a container of `qoslab/browser:dev` (Debian's chromium on the base image, built from the
Dockerfile's `browser` stage), so the test behaves the same on every runner whatever chromium it has;
QOSLAB_BROWSER=host uses the host's chromium instead.

One browser process; each `Tab` lives in its own browser context (an empty HTTP cache, like a fresh
incognito window), so a test can tell the browser's own cache from the proxy's.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

_DEVTOOLS = re.compile(r"DevTools listening on (ws://\S+)")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
                  "--disable-component-update", "--remote-debugging-port=0", "--window-size=1024,768")


BROWSER_ENV = "QOSLAB_BROWSER"  # container (default): qoslab/browser:dev; host: the host's chromium
BROWSER_IMAGE = "qoslab/browser:dev"
REPO = Path(__file__).resolve().parents[2]


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def base_image(repo: Path = REPO) -> str:
    """BASE_IMAGE as compose sees it: the environment, else the checkout's .env, else compose's default."""
    found = os.environ.get("BASE_IMAGE", "")
    env_file = repo / ".env"
    if not found and env_file.exists():
        for line in env_file.read_text(encoding="utf-8").splitlines():
            name, sep, value = line.partition("=")
            if sep and name.strip() == "BASE_IMAGE":
                found = value.strip().strip("'\"")
    return found or "python:3.12-slim"


def build_browser_image(repo: Path = REPO, timeout_s: float = 1800.0) -> str:
    """`docker build --target browser` (Debian's chromium on the base image; cached after the first)."""
    argv = ["docker", "build", "--quiet", "--network", "host", "--target", "browser", "--build-arg",
            f"BASE_IMAGE={base_image(repo)}", "-t", BROWSER_IMAGE, str(repo)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    if done.returncode != 0:
        raise CdpError(f"building {BROWSER_IMAGE} failed: {done.stderr[-3000:]}")
    return BROWSER_IMAGE


def container_argv(image: str, name: str) -> list[str]:
    """Chromium in a throwaway container on the host's network: it reaches the stack's published ports
    on 127.0.0.1, and its DevTools port is on the host's loopback like a local browser's."""
    return ["docker", "run", "--rm", "-i", "--network", "host", "--shm-size", "512m", "--name", name, image]


class CdpError(Exception):
    pass


class Browser:
    """One DevTools websocket to the browser; calls and events of every attached tab go through it."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._next = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, session: str | None = None, timeout_s: float = 30.0,
             **params: Any) -> dict[str, Any]:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + timeout_s
        while True:
            reply = self._receive(deadline, method)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise CdpError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def _receive(self, deadline: float, waiting_for: str) -> dict[str, Any]:
        left = deadline - time.monotonic()
        if left <= 0:
            raise CdpError(f"no answer to {waiting_for} in time")
        try:
            data = self.ws.recv(timeout=left)
        except TimeoutError as exc:
            raise CdpError(f"no answer to {waiting_for} in time") from exc
        parsed: dict[str, Any] = json.loads(data)
        return parsed

    def wait_event(self, method: str, session: str, timeout_s: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        seen = 0
        while True:
            for event in self.events[seen:]:
                if event.get("method") == method and event.get("sessionId") == session:
                    self.events.remove(event)
                    return event
            seen = len(self.events)
            self.events.append(self._receive(deadline, method))

    def new_tab(self) -> Tab:
        context = self.call("Target.createBrowserContext")["browserContextId"]
        target = self.call("Target.createTarget", url="about:blank", browserContextId=context)["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page.enable", "Network.enable", "Runtime.enable"):
            self.call(domain, session)
        # the favicon is fetched after the load event, so it would race the counters the test reads
        self.call("Network.setBlockedURLs", session, urls=["*/favicon.ico"])
        return Tab(self, session)


@dataclass
class Response:
    url: str
    status: int
    headers: dict[str, str]
    from_cache: bool  # served by the browser's own cache


@dataclass
class Load:
    responses: list[Response] = field(default_factory=list)

    def response(self, path: str) -> Response:
        found = [r for r in self.responses if r.url.split("://", 1)[-1].partition("/")[2] == path.lstrip("/")]
        if not found:
            raise AssertionError(f"no response for {path}; got {[r.url for r in self.responses]}")
        return found[0]


class Tab:
    def __init__(self, browser: Browser, session: str) -> None:
        self.browser, self.session = browser, session

    def load(self, url: str, timeout_s: float = 30.0) -> Load:
        """Navigate to `url` (from about:blank, so the browser treats it as a normal visit, not a reload)
        and wait for the load event; every response of the page and its subresources."""
        self._navigate("about:blank", timeout_s)
        self.browser.events.clear()
        self._navigate(url, timeout_s)
        return self._responses()

    def _navigate(self, url: str, timeout_s: float) -> None:
        result = self.browser.call("Page.navigate", self.session, url=url)
        if result.get("errorText"):
            raise CdpError(f"navigating to {url}: {result['errorText']}")
        self.browser.wait_event("Page.loadEventFired", self.session, timeout_s)

    def _responses(self) -> Load:
        mine = [e for e in self.browser.events if e.get("sessionId") == self.session]
        served = {e["params"]["requestId"] for e in mine
                  if e.get("method") == "Network.requestServedFromCache"}
        load = Load()
        for event in mine:
            if event.get("method") != "Network.responseReceived":
                continue
            params = event["params"]
            resp = params["response"]
            cached = (params["requestId"] in served or bool(resp.get("fromDiskCache"))
                      or bool(resp.get("fromMemoryCache")))
            load.responses.append(Response(resp["url"], int(resp["status"]),
                                           {k.lower(): str(v) for k, v in resp["headers"].items()}, cached))
        return load

    def evaluate(self, expression: str) -> Any:
        result = self.browser.call("Runtime.evaluate", self.session, expression=expression,
                                   returnByValue=True)
        if "exceptionDetails" in result:
            raise CdpError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        data = self.browser.call("Page.captureScreenshot", self.session, format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path


@contextmanager
def chromium(command: Sequence[str], start_timeout_s: float = 60.0) -> Iterator[Browser]:
    """Start headless Chromium (`command`: the binary, or `container_argv`) with a throwaway profile;
    always stopped afterwards (a container is removed)."""
    in_container = command[0] == "docker"
    with tempfile.TemporaryDirectory(prefix="qoslab-chromium-") as tmp:
        profile = "/tmp/qoslab-chromium-profile" if in_container else tmp
        proc = subprocess.Popen([*command, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
        try:
            url = _devtools_url(proc, start_timeout_s)
            with connect(url, max_size=None, open_timeout=start_timeout_s) as ws:
                yield Browser(ws)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            if proc.stderr is not None:
                proc.stderr.close()
            if in_container:
                subprocess.run(["docker", "rm", "-f", command[command.index("--name") + 1]],
                               capture_output=True, timeout=60, check=False)


def _devtools_url(proc: subprocess.Popen[str], timeout_s: float) -> str:
    found: list[str] = []
    lines: list[str] = []

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line.rstrip())
            match = _DEVTOOLS.search(line)
            if match and not found:
                found.append(match[1])

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout_s
    while not found and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    if not found:
        raise CdpError(f"chromium did not open DevTools (exit {proc.poll()}): " + "\n".join(lines[-20:]))
    return found[0]
