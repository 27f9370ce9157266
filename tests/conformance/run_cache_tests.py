"""Run the public HTTP cache conformance suite (npm `http-cache-tests@0.4.5`) against qoslab's proxy.

    python tests/conformance/run_cache_tests.py [--workdir DIR] [--json OUT] [--failures]

Fetches the suite with `npm pack` (once, into --workdir), starts its node origin on 127.0.0.1, starts
`python -m services.proxy` in reverse mode in front of it, runs the suite's CLI through the proxy and prints
the score by kind (required / optimal / check). A test counts as passed only when every test it
`depends_on` passed too. Exit 0 when it ran (whatever the score), 1 when the harness itself failed.
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


def start_proxy(origin_port: int, extra: list[str]) -> tuple[subprocess.Popen[str], int]:
    cmd = [sys.executable, "-m", "services.proxy", "--bind", "127.0.0.1", "--http-port", "0",
           "--udp-port", "0", "--upstream", f"127.0.0.1:{origin_port}", "--upstream-udp", "127.0.0.1:9",
           "--mode", "reverse", "--no-access-log", *extra]
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


def run_suite(package: Path, base: str, timeout_s: float) -> dict[str, Any]:
    env = {**os.environ, "npm_config_base": base, "npm_config_id": "", "npm_package_config_id": ""}
    out = subprocess.run(["node", "--no-warnings", "cli.mjs"], cwd=package, env=env, timeout=timeout_s,
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


def score(tests: list[dict[str, Any]], results: dict[str, Any]) -> tuple[dict[str, list[int]], list[str]]:
    """Passed/total per kind; a test passes only if it and (recursively) its dependencies returned true."""
    by_id = {test["id"]: test for test in tests}
    memo: dict[str, bool] = {}

    def passed(test_id: str) -> bool:
        if test_id not in memo:
            memo[test_id] = False
            deps = by_id.get(test_id, {}).get("depends_on", [])
            memo[test_id] = results.get(test_id) is True and all(passed(dep) for dep in deps)
        return memo[test_id]

    totals: dict[str, list[int]] = {}
    failures: list[str] = []
    for test in tests:
        row = totals.setdefault(test["kind"], [0, 0])
        row[1] += 1
        if passed(test["id"]):
            row[0] += 1
        else:
            detail = results.get(test["id"])
            failures.append(f"{test['kind']:8} {test['id']}: {json.dumps(detail)[:160]}")
    return totals, failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/qoslab-cache-tests"))
    parser.add_argument("--json", type=Path, help="write raw results and the score here")
    parser.add_argument("--failures", action="store_true", help="list every test not passed")
    parser.add_argument("--timeout", type=float, default=600.0, help="suite time limit in seconds")
    args = parser.parse_args(argv)
    package = prepare(args.workdir)
    origin_port = free_port()
    origin = start_origin(package, origin_port)
    proxy: subprocess.Popen[str] | None = None
    try:
        proxy, proxy_port = start_proxy(origin_port, [])
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
    for kind in ("required", "optimal", "check"):
        passed, total = totals.get(kind, [0, 0])
        print(f"{kind:9} {passed:4d} / {total}")
    if args.failures:
        print("\n".join(failures))
    if args.json:
        args.json.write_text(json.dumps({"score": totals, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
