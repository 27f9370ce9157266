"""QoS gates end to end against the real server on 127.0.0.1: exit codes of the module, CSV, JUnit."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.client import results
from tests.integration.processes import REPO as ROOT
from tests.integration.processes import running


@pytest.fixture(scope="module")
def server() -> Iterator[dict[str, str]]:
    with running("services.server", "--bind", "127.0.0.1", "--http-port", "0", "--udp-port", "0") as svc:
        yield {"url": f"http://{svc.http[0]}:{svc.http[1]}/index.html", "udp": f"{svc.udp[0]}:{svc.udp[1]}"}


def client(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.client", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


def test_gated_runs_fail_on_a_violated_threshold_and_pass_otherwise(server: dict[str, str],
                                                                     tmp_path: Path) -> None:
    csv_path, junit_path = tmp_path / "qos_result.csv", tmp_path / "junit.xml"
    common = ["--csv", str(csv_path), "--junit", str(junit_path)]
    qos = ["qos", "--target", server["udp"], "--count", "50", "--interval", "2ms", "--same-clock", "true"]
    # The same measurement gated twice: a limit no RTT can meet, then limits every local run meets.
    failed = client(*qos, *common, "--assert", "rtt_p99_ms<0", "--assert", "loss_pct<=100")
    assert failed.returncode == 1, failed.stderr
    assert "FAIL assert rtt_p99_ms<0 [qos]: FAILED: measured " in failed.stdout
    assert "PASS assert loss_pct<=100 [qos]" in failed.stdout
    failures = ET.parse(junit_path).getroot().findall("testsuite/testcase/failure")
    assert [f.attrib["message"].split(":")[0] for f in failures] == ["rtt_p99_ms<0 [qos]"]

    passed = client(*qos, *common, "--assert", "rtt_p99_ms<10000", "--assert", "owd_up_median_ms>=0")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert ET.parse(junit_path).getroot().find("testsuite/testcase/failure") is None
    http = client("load", server["url"], "--proxy", "none", "--clients", "2", "--requests", "20", *common,
                  "--assert", "req_per_s>=1", "--assert", "errors==0")
    assert http.returncode == 0, http.stdout + http.stderr
    assert [r["kind"] for r in results.read_rows(csv_path)] == ["qos", "qos", "load"]  # all rows kept

    bad = client(*qos, *common, "--assert", "rtt_p99<80")
    assert bad.returncode == 2 and "unknown column 'rtt_p99'" in bad.stderr
    assert len(results.read_rows(csv_path)) == 3  # nothing measured on bad usage
