"""QoS gates (`--assert`) and the JUnit report: parsing, checking, exit codes, the XML shape."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from netem import topology
from services.client import cli, gates, junit, results
from services.client.gates import Assertion, GateError

COLUMNS = results.COLUMNS
RELAY = topology.named_endpoint("proxy", "udp")


@pytest.mark.parametrize(("text", "expected"), [
    ("rtt_p99_ms<80", Assertion("rtt_p99_ms", "<", 80.0)),
    (" loss_pct <= 1 ", Assertion("loss_pct", "<=", 1.0)),
    ("owd_up_median_ms>0.5", Assertion("owd_up_median_ms", ">", 0.5)),
    ("req_per_s>=500", Assertion("req_per_s", ">=", 500.0)),
    ("http_status==200", Assertion("http_status", "==", 200.0)),
    ("x_cache==HIT", Assertion("x_cache", "==", "HIT")),
    ("goodput_mbps>=1e1", Assertion("goodput_mbps", ">=", 10.0)),
])
def test_parse_valid(text: str, expected: Assertion) -> None:
    assert gates.parse(text, COLUMNS) == expected


@pytest.mark.parametrize(("text", "reason"), [
    ("rtt_p999_ms<80", "unknown column 'rtt_p999_ms'"),
    ("rtt_p99_ms", "expected COLUMN OP LIMIT"),
    ("rtt_p99_ms=80", "expected COLUMN OP LIMIT"),
    ("rtt_p99_ms!=80", "expected COLUMN OP LIMIT"),
    ("rtt_p99_ms<<80", "is not a number"),
    ("rtt_p99_ms<fast", "is not a number"),
    ("rtt_p99_ms<nan", "is not a number"),
    ("rtt_p99_ms < 80 ms", "expected COLUMN OP LIMIT"),
])
def test_parse_errors_name_the_problem(text: str, reason: str) -> None:
    with pytest.raises(GateError, match=reason) as info:
        gates.parse(text, COLUMNS)
    assert info.value.expression == text


def test_unknown_column_suggests_similar_names() -> None:
    with pytest.raises(GateError, match="similar: rtt_min_ms"):
        gates.parse("rtt_p999_ms<80", COLUMNS)


def test_env_list_splits_on_semicolons_and_commas() -> None:
    assert gates.split_env(" rtt_p99_ms<80; loss_pct<=1,,req_per_s>=5 ") == [
        "rtt_p99_ms<80", "loss_pct<=1", "req_per_s>=5"]


QOS_ROW: dict[str, Any] = {"kind": "qos", "target": RELAY, "ok": True, "rtt_p99_ms": 95.25,
                           "loss_pct": 0.0, "duration_s": 2.0, "run_id": "abc", "profile": "3g"}
HTTP_ROW: dict[str, Any] = {"kind": "http_hit", "target": "http://p/", "ok": True, "x_cache": "HIT",
                            "http_status": 200, "total_ms": 12.0}


@pytest.mark.parametrize(("text", "passed"), [
    ("rtt_p99_ms<80", False), ("rtt_p99_ms<=95.25", True), ("rtt_p99_ms>95.25", False),
    ("rtt_p99_ms>=95", True), ("rtt_p99_ms==95.25", True), ("loss_pct<=1", True), ("loss_pct>0", False),
    ("ok==1", True), ("ok==0", False),
])
def test_check_compares_the_measured_value(text: str, passed: bool) -> None:
    [outcome] = gates.check([gates.parse(text, COLUMNS)], [QOS_ROW])
    assert outcome.passed is passed and outcome.measured is not None


def test_violation_message_has_measured_and_limit() -> None:
    [outcome] = gates.check([gates.parse("rtt_p99_ms<80", COLUMNS)], [QOS_ROW, HTTP_ROW])
    assert outcome.message == "rtt_p99_ms<80 [qos]: FAILED: measured 95.25, limit < 80"


def test_an_assertion_applies_to_each_row_that_measured_the_column() -> None:
    second = {**QOS_ROW, "kind": "qos_direct", "rtt_p99_ms": 1.0}
    outcomes = gates.check([gates.parse("rtt_p99_ms<80", COLUMNS)], [HTTP_ROW, QOS_ROW, second])
    assert [(o.test, o.passed) for o in outcomes] == [("qos", False), ("qos_direct", True)]


def test_a_column_no_test_measured_fails_the_gate() -> None:
    [outcome] = gates.check([gates.parse("req_per_s>=500", COLUMNS)], [QOS_ROW, {"rtt_p99_ms": None}])
    assert not outcome.passed and outcome.row is None
    assert "not measured" in outcome.message


def test_text_equality() -> None:
    outcomes = gates.check([gates.parse("x_cache==HIT", COLUMNS), gates.parse("x_cache==MISS", COLUMNS)],
                           [HTTP_ROW])
    assert [o.passed for o in outcomes] == [True, False]


# --- JUnit --------------------------------------------------------------------------------------------

def check_junit_shape(root: ET.Element) -> None:
    """The structure JUnit consumers (Jenkins' junit-10.xsd, GitHub/GitLab reporters) require."""
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert suites and all(child.tag == "testsuite" for child in root)
    for suite in suites:
        assert {"name", "tests", "failures", "errors"} <= set(suite.attrib)
        cases = suite.findall("testcase")
        assert int(suite.attrib["tests"]) == len(cases)
        assert int(suite.attrib["failures"]) == sum(c.find("failure") is not None for c in cases)
        assert {child.tag for child in suite} <= {"properties", "testcase", "system-out", "system-err"}
        for case in cases:
            assert {"name", "classname"} <= set(case.attrib) and case.attrib["name"]
            assert {child.tag for child in case} <= {"failure", "error", "skipped"}
            for failure in case.findall("failure"):
                assert failure.attrib.get("message") and failure.attrib.get("type")
        float(suite.attrib.get("time", "0"))


def test_junit_one_testcase_per_test_and_assertion() -> None:
    rows = [QOS_ROW, HTTP_ROW, {**QOS_ROW, "kind": "load", "ok": False, "error": "3 of 100 requests failed",
                                "rtt_p99_ms": None, "duration_s": None}]
    outcomes = gates.check(gates.parse_all(["rtt_p99_ms<80", "x_cache==HIT", "req_per_s>=1"], COLUMNS), rows)
    root = ET.fromstring(junit.to_xml(junit.build("suite", rows, outcomes, timestamp="t", hostname="h")))
    check_junit_shape(root)
    cases = root.findall("testsuite/testcase")
    failed = {c.attrib["name"]: c.find("failure") for c in cases}
    assert [c.attrib["name"] for c in cases] == [
        f"qos {RELAY}", "http_hit http://p/", f"load {RELAY}",
        "rtt_p99_ms<80 [qos]", "x_cache==HIT [http_hit]", "req_per_s>=1"]
    assert {n for n, f in failed.items() if f is not None} == {f"load {RELAY}", "rtt_p99_ms<80 [qos]",
                                                               "req_per_s>=1"}
    failure = failed["rtt_p99_ms<80 [qos]"]
    assert failure is not None and failure.attrib["message"].endswith("measured 95.25, limit < 80")
    assert root.find("testsuite").attrib["failures"] == "3"  # type: ignore[union-attr]
    assert cases[0].attrib["time"] == "2.000" and cases[1].attrib["time"] == "0.012"
    props = {p.attrib["name"]: p.attrib["value"] for p in root.findall("testsuite/properties/property")}
    assert props["run_id"] == "abc" and props["profile"] == "3g"


# --- the command line: exit codes, CSV kept, report lines ------------------------------------------------

@pytest.fixture
def canned(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """`qos` without a network: the measurement returns QOS_ROW; counts how often it ran."""
    calls: list[int] = []

    def fake_qos_test(*args: Any, **kwargs: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        calls.append(1)
        return {**QOS_ROW, "timestamp_utc": "2026-01-01T00:00:00Z"}, []

    monkeypatch.setattr(cli, "qos_test_raw", fake_qos_test)
    return calls


def run_qos(tmp_path: Path, *flags: str) -> int:
    return cli.main(["qos", "--target", "127.0.0.1:9", "--csv", str(tmp_path / "r.csv"), *flags])


def test_violated_gate_exits_1_naming_it_and_the_row_is_kept(
        canned: list[int], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run_qos(tmp_path, "--assert", "rtt_p99_ms<80", "--assert", "loss_pct<=1",
                   "--junit", str(tmp_path / "out" / "junit.xml"))
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL assert rtt_p99_ms<80 [qos]: FAILED: measured 95.25, limit < 80" in out
    assert "PASS assert loss_pct<=1 [qos]: ok: measured 0, limit <= 1" in out
    assert [r["rtt_p99_ms"] for r in results.read_rows(tmp_path / "r.csv")] == ["95.25"]
    root = ET.parse(tmp_path / "out" / "junit.xml").getroot()
    check_junit_shape(root)
    assert root.attrib["failures"] == "1" and root.attrib["tests"] == "3"


def test_gates_that_hold_exit_0(canned: list[int], tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    assert run_qos(tmp_path, "--assert", "rtt_p99_ms<100", "--assert", "ok==1") == 0
    assert capsys.readouterr().out.count("PASS assert") == 2


def test_env_assertions_apply_when_no_flag(canned: list[int], tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLIENT_ASSERT", "loss_pct<=1;rtt_p99_ms<80")
    assert run_qos(tmp_path) == 1
    assert run_qos(tmp_path, "--assert", "loss_pct<=1") == 0  # flags replace the environment's list


@pytest.mark.parametrize("expr", ["rtt_p999_ms<80", "rtt_p99_ms=80", "loss_pct<=one"])
def test_bad_assertion_exits_2_before_measuring(canned: list[int], tmp_path: Path, expr: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert run_qos(tmp_path, "--assert", expr) == 2
    assert f"--assert {expr!r}" in capsys.readouterr().err
    assert canned == [] and not (tmp_path / "r.csv").exists()


def test_json_mode_keeps_stdout_for_json(canned: list[int], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert run_qos(tmp_path, "--json", "--assert", "rtt_p99_ms<80") == 1
    captured = capsys.readouterr()
    assert all(line.startswith("{") for line in captured.out.splitlines())
    assert "FAIL assert rtt_p99_ms<80" in captured.err


def test_a_run_over_both_families_names_the_family_of_each_outcome_and_case() -> None:
    v4, v6 = {**QOS_ROW, "ip_version": 4, "label": "ci"}, {**QOS_ROW, "ip_version": 6, "label": "ci"}
    outcomes = gates.check([gates.parse("rtt_p99_ms<80", COLUMNS)], [v4, v6])
    assert [o.test for o in outcomes] == ["qos IPv4 (ci)", "qos IPv6 (ci)"]  # two cases, two names
    [single] = gates.check([gates.parse("rtt_p99_ms<80", COLUMNS)], [v6])
    assert single.test == "qos (ci)"  # one family: the names stay as they were
    root = junit.build("suite", [v4, v6], outcomes, timestamp="2026-01-01T00:00:00", hostname="h")
    names = [case.attrib["name"] for case in root.iter("testcase")]
    assert len(set(names)) == len(names) == 4, names
