"""The whole stack under Docker Compose behaves as `docker compose up` promises a user."""

from __future__ import annotations

import csv
import http.client
import re
import time

from .conftest import Stack

# a line of the client's side-by-side summary (services/client/report.family_table: compose runs the suite
# over IPv4 and IPv6), after compose's "client-1 | "; the test's name is padded to 11 characters (so
# never one space: `load http://…` is the load run's own line), each family's cell is 40 wide
SUMMARY_LINE = re.compile(r"(?:^|\|\s)(?P<kind>http_miss|http_hit|qos|load)\s{2,}(?P<v4>.{40}) (?P<v6>.*)$")


def _get(port: int, path: str, timeout_s: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


def test_client_suite_exits_zero_and_prints_a_summary(stack: Stack) -> None:
    state = stack.inspect("client")["State"]
    logs = stack.logs("client")
    assert state["Status"] == "exited", logs[-3000:]
    assert state["ExitCode"] == 0, logs[-3000:]
    # the summary table: one line per test, in order; the suite's HTTP pair is a miss, then a hit
    summary = [SUMMARY_LINE.search(line) for line in logs.splitlines()]
    rows = [(m["kind"], m["v4"].strip(), m["v6"].strip()) for m in summary if m]
    assert [kind for kind, _, _ in rows] == ["http_miss", "http_hit", "qos", "load"], logs[-3000:]
    assert not [cell for row in rows for cell in row[1:] if cell.startswith("FAILED")], rows
    for _, v4, v6 in rows[:2]:
        assert v4.split()[:2] == v6.split()[:2], rows
    assert rows[0][1].startswith("200 MISS ") and rows[1][1].startswith("200 HIT "), rows


def test_results_csv_lands_on_the_host_with_a_row_per_test(stack: Stack) -> None:
    path = stack.results_dir / "qos_result.csv"
    assert path.exists(), f"no {path}; client logs:\n{stack.logs('client')[-3000:]}"
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) >= 3, rows
    header = path.read_text().splitlines()[0]
    assert path.read_text().count(header) == 1, "header written once"
    assert all(row.get("label") == "compose-test" for row in rows), rows


def test_published_proxy_answers_the_second_request_from_cache(stack: Stack) -> None:
    status1, _headers1, body1 = _get(stack.proxy_port, "/index.html")
    status2, headers2, body2 = _get(stack.proxy_port, "/index.html")
    assert status1 == status2 == 200
    assert body1 == body2 and body1
    assert headers2.get("x-cache") == "HIT", headers2
    assert "via" in headers2


def test_published_server_port_serves_files_directly(stack: Stack) -> None:
    status, headers, body = _get(stack.server_port, "/index.html")
    assert status == 200 and body
    assert "x-cache" not in headers


def test_services_run_as_non_root(stack: Stack) -> None:
    for service in ("server", "proxy"):
        done = stack.exec(service, "sh", "-c", "cat /proc/1/status | grep -E '^Uid:'")
        uids = done.stdout.split()[1:]
        assert uids and all(uid != "0" for uid in uids), (service, done.stdout)


def test_menu_opens_and_exits_on_request(stack: Stack) -> None:
    done = stack.compose("run", "--rm", "-T", "client", "menu", input_text="6\n", timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "exit" in done.stdout.lower(), done.stdout[-2000:]


def test_proxy_says_502_while_server_is_down_and_recovers(stack: Stack) -> None:
    stack.compose("stop", "-t", "5", "server")
    try:
        status, _, _ = _get(stack.proxy_port, "/never-cached-while-down.html?x=1")
        assert status in (502, 504)
    finally:
        stack.compose("start", "server")
    stack.wait_healthy("server")
    deadline = time.monotonic() + 30
    status = 0
    while time.monotonic() < deadline:
        status, _, _ = _get(stack.proxy_port, "/index.html?after-restart=1")
        if status == 200:
            break
        time.sleep(0.5)
    assert status == 200


def test_direct_mode_measures_the_path_without_the_proxy(stack: Stack) -> None:
    done = stack.compose("-f", "compose.yaml", "-f", "compose.direct.yaml", "run", "--rm", "-T", "client",
                         "suite", "--csv", "/results/direct.csv", timeout=180, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with (stack.results_dir / "direct.csv").open(newline="") as handle:
        kinds = [(row["kind"], row["ip_version"]) for row in csv.DictReader(handle)]
    assert kinds == [(kind, version) for version in ("4", "6")
                     for kind in ("http_miss", "http_hit", "qos", "load", "http_direct", "qos_direct")]
