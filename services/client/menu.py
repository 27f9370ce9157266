"""The interactive menu of the original design. Invalid input re-prompts; EOF or Ctrl-C exits cleanly."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable, Mapping
from typing import TextIO

from services.client import options, report, results
from services.client.context import UsageError, context, same_clock
from services.client.family import runs
from services.client.options import parse_proxy, parse_udp_target
from services.client.qos.config import QosConfig, QosConfigError
from services.client.runs import RunContext, http_test, load_test, qos_test
from services.common.config import add_options
from services.common.inet import format_host_port

MENU = """
qoslab client — URL {url}  proxy {proxy}  UDP target {udp}
  1) set target (URL, proxy, UDP echo/relay)
  2) HTTP request
  3) UDP QoS test
  4) multi-client simulation
  5) browser info
  6) responsiveness (latency under load: RPM, bufferbloat grade)
  7) exit"""

# What tests/compose/test_browser.py proves in headless Chromium through the published proxy port
# ("window" = a fresh browser window with an empty cache; "again" = the same window visits again).
BROWSER_PAGES = (
    ("/index.html", "renders with its stylesheet; a new window gets X-Cache: HIT"),
    ("/fresh/page.html", "again: from the browser's cache; a new window: X-Cache: HIT"),
    ("/stale/page.html", "again and in a new window: X-Cache: REVALIDATED"),
    ("/nocache/page.html", "again and in a new window: X-Cache: REVALIDATED"),
    ("/nostore/page.html", "X-Cache: MISS every time, never from the browser's cache"),
    ("/private/page.html", "again: from the browser's cache; a new window: X-Cache: MISS"),
)
_MORE = (("8080", "/_proxy/stats", "proxy cache counters (JSON); /metrics: the same for Prometheus"),
         ("8000", "/index.html", "the origin server directly (no X-Cache)"))
# compose.yaml publishes the proxy's and the server's HTTP ports on the host at these (the client gets the
# same variables): the menu names the host's ports, not the containers'
PUBLISHED = {"8080": "PROXY_PUBLISH_PORT", "8000": "SERVER_PUBLISH_PORT"}


def published(port: str, environ: Mapping[str, str]) -> str:
    """The host port compose published container port `port` on: its *_PUBLISH_PORT when that is a port
    number, else the default (0 = Docker's choice: `docker compose port` names it)."""
    value = environ.get(PUBLISHED[port], "").strip()
    if value == "0":
        return "PORT"
    return value if value.isdigit() and 0 < int(value) < 65536 else port


def browser_info(environ: Mapping[str, str]) -> str:
    """Where a browser on the Docker host reaches each page: the published ports of this run."""
    proxy = published("8080", environ)
    lines = [f"From a browser on the Docker host (proxy published on 127.0.0.1:{proxy}):",
             *(f"  http://127.0.0.1:{published(port, environ)}{path:<20} {what}"
               for port, path, what in [("8080", p, w) for p, w in BROWSER_PAGES] + list(_MORE)),
             f"Or configure 127.0.0.1:{proxy} as the browser's HTTP proxy (forward mode)."]
    if "PORT" in (proxy, published("8000", environ)):
        lines.append("PORT: the port Docker chose (*_PUBLISH_PORT=0): `docker compose port proxy 8080` "
                     "or `docker compose port server 8000` names it.")
    return "\n".join(lines)


BROWSER_INFO = browser_info({})  # with compose.yaml's default ports

class Menu:
    def __init__(self, ns: argparse.Namespace, stdin: TextIO | None = None,
                 stdout: TextIO | None = None, environ: Mapping[str, str] | None = None) -> None:
        self.ns = ns
        self.environ = os.environ if environ is None else environ
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.failures = 0

    def say(self, text: str) -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def ask(self, prompt: str) -> str | None:
        """One line of input, or None at EOF."""
        self.stdout.write(prompt)
        self.stdout.flush()
        line = self.stdin.readline()
        return None if line == "" else line.strip()

    def ask_value(self, prompt: str, parse: Callable[[str], object], default: str) -> object | None:
        """Re-prompt until `parse` accepts the answer (empty = default); None at EOF."""
        while True:
            answer = self.ask(f"{prompt} [{default}]: ")
            if answer is None:
                return None
            try:
                return parse(answer or default)
            except ValueError as exc:
                self.say(f"  invalid: {exc}")

    def run(self) -> int:
        actions: dict[str, Callable[[], bool]] = {
            "1": self.set_target, "2": self.http, "3": self.qos, "4": self.load, "5": self.browser,
            "6": self.responsiveness,
        }
        try:
            while True:
                proxy = "none" if self.ns.proxy is None else format_host_port(*self.ns.proxy)
                self.say(MENU.format(url=self.ns.url, proxy=proxy, udp=format_host_port(*self.ns.target)))
                choice = self.ask("choice: ")
                if choice is None or choice in {"7", "q", "exit", "quit"}:
                    self.say("bye")
                    return 0
                action = actions.get(choice)
                if action is None:
                    self.say("  please answer 1-7")
                    continue
                try:
                    keep_going = action()
                except Exception as exc:  # the menu never dies on a failed test
                    self.say(f"  failed: {type(exc).__name__}: {exc}")
                    keep_going = True
                if not keep_going:
                    self.say("bye")
                    return 0
        except KeyboardInterrupt:
            self.say("\nbye")
            return 0

    def _ctx(self) -> RunContext:
        return context(self.ns)

    def _record(self, row: dict[str, object]) -> None:
        if self.ns.csv:
            try:
                results.append_rows(self.ns.csv, [row])
            except OSError as exc:
                self.say(f"  cannot write {self.ns.csv}: {exc}")
        self.say("\n".join(report.block(row)))

    def set_target(self) -> bool:
        url = self.ask_value("URL", _parse_url, self.ns.url)
        proxy = None if url is None else self.ask_value(
            "HTTP proxy HOST:PORT or none", parse_proxy, "none" if self.ns.proxy is None else
            format_host_port(*self.ns.proxy))
        udp = None if url is None else self.ask_value("UDP target HOST:PORT", parse_udp_target,
                                                      format_host_port(*self.ns.target))
        if udp is None:
            return False
        self.ns.url, self.ns.proxy, self.ns.target = url, proxy, udp
        return True

    def http(self) -> bool:
        for family in runs(self.ns.family):
            self._record(http_test(self.ns.url, self.ns.proxy, self._ctx(), timeout_s=self.ns.timeout,
                                   family=family))
        return True

    def qos(self) -> bool:
        count = self.ask_value("probes", _positive_int, "100")
        interval = None if count is None else self.ask_value("interval ms", _positive_float, "10")
        if interval is None:
            return False
        try:
            host, port = self.ns.target
            config = QosConfig(host=host, port=port, count=int(str(count)),
                               interval_s=float(str(interval)) / 1000).validate()
        except QosConfigError as exc:
            self.say(f"  invalid: {exc}")
            return True
        for family in runs(self.ns.family):
            self._record(qos_test(dataclasses.replace(config, family=family), self._ctx(),
                                  same_clock=same_clock(self.ns)))
        return True

    def load(self) -> bool:
        clients = self.ask_value("clients", _positive_int, "5")
        requests = None if clients is None else self.ask_value("requests in total", _positive_int, "100")
        if requests is None:
            return False
        for family in runs(self.ns.family):
            self._record(load_test(self.ns.url, self.ns.proxy, int(str(clients)), int(str(requests)),
                                   self._ctx(), self.ns.timeout, family=family))
        return True

    def browser(self) -> bool:
        self.say(browser_info(self.environ))
        return True

    def responsiveness(self) -> bool:
        """The latency-under-load test with the menu's proxy and UDP target (other settings: env/defaults)."""
        from services.client.responsiveness import report as resp_report
        from services.client.responsiveness.run import config_from, responsiveness_test

        seconds = self.ask_value("seconds per loaded phase", _positive_float, "10")
        flows = None if seconds is None else self.ask_value("flows each way", _flows, "4")
        if flows is None:
            return False
        parser = argparse.ArgumentParser(add_help=False)
        add_options(parser, [*options.COMMON, *options.RESPONSIVENESS])
        ns = parser.parse_args([])
        ns.proxy, ns.target, ns.timeout = self.ns.proxy, self.ns.target, self.ns.timeout
        ns.load_time, ns.flows_down, ns.flows_up = float(str(seconds)), int(str(flows)), int(str(flows))
        try:
            config = config_from(ns)
        except UsageError as exc:
            self.say(f"  invalid: {exc}")
            return True
        self.say(f"  about {config.plan()[-1].end_s + config.linger_s:.0f} s …")
        rows, _ = responsiveness_test(config, self._ctx())
        self.say(resp_report.HEADER)
        for row in rows:
            self._record(row)
        return True


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1 or value > 1_000_000:
        raise ValueError("a whole number from 1 to 1000000")
    return value


def _flows(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 16:
        raise ValueError("1 to 16 connections")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not 0 < value <= 60_000:
        raise ValueError("a number above 0")
    return value


def _parse_url(text: str) -> str:
    from services.client.httpc import resolve_target

    resolve_target(text, None)
    return text if "://" in text else "http://" + text
