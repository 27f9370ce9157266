"""Run the public HTTP cache conformance suite (npm `http-cache-tests@0.4.5`) against qoslab's proxy.

    python tests/conformance/run_cache_tests.py [--mode reverse|forward] [--workdir DIR] [--json OUT]
                                                [--failures] [--proxy-arg=--flag=value ...]

Fetches the suite with `npm pack` (once, into --workdir), starts its node origin on 127.0.0.1, starts
`python -m services.proxy` in front of it, runs the suite's CLI through the proxy and prints the score by
kind (required / optimal / check). Reverse mode: the suite's base URL is the proxy. Forward mode: the base
URL is the origin and every request goes to the proxy in absolute-form (`forward_cli.mjs`).

Scored like the suite's own results page (`lib/display.mjs` `determineTestResult`): browser-only tests are
not run against a proxy and not counted; a test passes when it returned true and every test it
`depends_on` passed; a test whose dependency did not pass is a "dependency failure", not a failure of its
own; "Setup" results are setup failures (or "retry"). The line per kind is `passed / counted`, then how
many of the rest failed, failed a dependency, or failed setup. Exit 0 when it ran, 1 when the harness failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

PACKAGE = "http-cache-tests@0.4.5"
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def prepare(workdir: Path) -> Path:
    package = workdir / "package"
    if (package / "node_modules").is_dir():
        return package
    workdir.mkdir(parents=True, exist_ok=True)
    subprocess.run(["npm", "pack", PACKAGE], cwd=workdir, check=True, timeout=300, capture_output=True)
    tgz = next(workdir.glob("http-cache-tests-*.tgz"))
    with tarfile.open(tgz) as archive:
        archive.extractall(workdir, filter="data")
    subprocess.run(["npm", "i", "--omit=dev", "--ignore-scripts"], cwd=package, check=True, timeout=600,
                   capture_output=True)
    return package


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def start_origin(package: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "npm_config_port": str(port), "npm_config_protocol": "http",
           "npm_config_pidfile": str(package / "server.pid")}
    proc = subprocess.Popen(["node", "--require", str(HERE / "listen_local.cjs"), "server/server.mjs"],
                            cwd=package, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, 10)
    return proc


def start_proxy(origin_port: int, mode: str, extra: list[str]) -> tuple[subprocess.Popen[str], int]:
    cmd = [sys.executable, "-m", "services.proxy", "--bind", "127.0.0.1", "--http-port", "0",
           "--udp-port", "0", "--upstream", f"127.0.0.1:{origin_port}", "--upstream-udp", "127.0.0.1:9",
           "--mode", mode, "--allow", f"127.0.0.1:{origin_port}", "--no-access-log", *extra]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        found = re.search(r"event=proxy\.listening http=\S+:(\d+)", line)
        if found:
            return proc, int(found.group(1))
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError("proxy did not report event=proxy.listening")


def run_suite(package: Path, base: str, timeout_s: float, proxy: str | None = None) -> dict[str, Any]:
    """The suite's raw results; `proxy` (host:port): send every request there in absolute-form."""
    env = {**os.environ, "npm_config_base": base, "npm_config_id": "", "npm_package_config_id": ""}
    script = "cli.mjs"
    if proxy is not None:
        shutil.copy(HERE / "forward_cli.mjs", package / "qoslab_forward_cli.mjs")
        env["QOSLAB_PROXY"] = proxy
        script = "qoslab_forward_cli.mjs"
    out = subprocess.run(["node", "--no-warnings", script], cwd=package, env=env, timeout=timeout_s,
                         capture_output=True, text=True, check=False)
    start = out.stdout.find("{")
    if start < 0:
        raise RuntimeError(f"suite printed no JSON: {out.stdout[-500:]} {out.stderr[-500:]}")
    results: dict[str, Any] = json.loads(out.stdout[start:])
    return results


def catalogue(package: Path) -> list[dict[str, Any]]:
    shutil.copy(HERE / "list_tests.mjs", package / "qoslab_list_tests.mjs")
    out = subprocess.run(["node", "--no-warnings", "qoslab_list_tests.mjs"], cwd=package, timeout=60,
                         capture_output=True, text=True, check=True)
    tests: list[dict[str, Any]] = json.loads(out.stdout)
    return tests


OUTCOMES = ("passed", "failed", "dependency", "setup")


def outcome(test_id: str, by_id: dict[str, dict[str, Any]], results: dict[str, Any],
            memo: dict[str, str]) -> str:
    """One test as the suite's results page classifies it (`determineTestResult`, dependencies honoured)."""
    if test_id in memo:
        return memo[test_id]
    memo[test_id] = "dependency"  # a dependency cycle never passes
    test, result = by_id.get(test_id, {}), results.get(test_id)
    if result is None:
        found = "untested"
    elif any(outcome(dep, by_id, results, memo) != "passed" for dep in test.get("depends_on", [])):
        found = "dependency"
    elif isinstance(result, list) and result and result[0] == "Setup":
        found = "retry" if len(result) > 1 and result[1] == "retry" else "setup"
    else:
        found = "passed" if result is True else "failed"
    memo[test_id] = found
    return found


def score(tests: list[dict[str, Any]], results: dict[str, Any]
          ) -> tuple[dict[str, dict[str, int]], list[str]]:
    """Per kind: counted tests (browser-only ones are not run against a proxy) and how many had each
    outcome; and a line per test not passed."""
    by_id = {test["id"]: test for test in tests}
    memo: dict[str, str] = {}
    totals: dict[str, dict[str, int]] = {}
    failures: list[str] = []
    for test in tests:
        if test.get("browser_only"):
            continue
        row = totals.setdefault(test["kind"], {"counted": 0})
        row["counted"] += 1
        found = outcome(test["id"], by_id, results, memo)
        row[found] = row.get(found, 0) + 1
        if found != "passed":
            detail = results.get(test["id"])
            failures.append(f"{test['kind']:8} {found:10} {test['id']}: {json.dumps(detail)[:160]}")
    return totals, failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/qoslab-cache-tests"))
    parser.add_argument("--json", type=Path, help="write raw results and the score here")
    parser.add_argument("--failures", action="store_true", help="list every test not passed")
    parser.add_argument("--timeout", type=float, default=600.0, help="suite time limit in seconds")
    parser.add_argument("--mode", choices=("reverse", "forward"), default="reverse",
                        help="the proxy's mode (forward: requests in absolute-form through it)")
    parser.add_argument("--proxy-arg", action="append", default=[], metavar="ARG",
                        help="extra proxy flag, e.g. --proxy-arg=--stale-on-error=0 (repeatable)")
    args = parser.parse_args(argv)
    package = prepare(args.workdir)
    origin_port = free_port()
    origin = start_origin(package, origin_port)
    proxy: subprocess.Popen[str] | None = None
    try:
        proxy, proxy_port = start_proxy(origin_port, args.mode, args.proxy_arg)
        if args.mode == "forward":
            results = run_suite(package, f"http://127.0.0.1:{origin_port}", args.timeout,
                                proxy=f"127.0.0.1:{proxy_port}")
        else:
            results = run_suite(package, f"http://127.0.0.1:{proxy_port}", args.timeout)
    finally:
        for proc in (proxy, origin):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
    tests = catalogue(package)
    totals, failures = score(tests, results)
    print(f"mode {args.mode}, {PACKAGE}")
    for kind in ("required", "optimal", "check"):
        row = totals.get(kind, {"counted": 0})
        rest = ", ".join(f"{row[name]} {name}" for name in (*OUTCOMES[1:], "retry", "untested")
                         if row.get(name))
        print(f"{kind:9} {row.get('passed', 0):4d} / {row['counted']}" + (f"  ({rest})" if rest else ""))
    if args.failures:
        print("\n".join(failures))
    if args.json:
        args.json.write_text(json.dumps({"score": totals, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
