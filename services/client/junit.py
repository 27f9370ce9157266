"""JUnit XML for CI systems (GitHub, GitLab, Jenkins): one testcase per test and per assertion (pure).

    <testsuites name="qoslab" tests="4" failures="1" errors="0">
      <testsuite name="qoslab.client.qos" tests="4" failures="1" errors="0" skipped="0" time="2.1"
                 timestamp="…" hostname="…">
        <properties><property name="run_id" value="…"/> … </properties>
        <testcase classname="qoslab.client.qos" name="qos" time="2.1"/>
        <testcase classname="qoslab.client.qos.assert" name="rtt_p99_ms&lt;80 [qos]">
          <failure type="threshold" message="rtt_p99_ms&lt;80 [qos]: FAILED: measured 95.2, limit &lt; 80"/>
        </testcase>
      </testsuite>
    </testsuites>

A test that did not work (`ok` = 0) is a failure with its `error` as the message.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any

from services.client.gates import Outcome, mixed_families, test_name


def _seconds(row: Mapping[str, Any]) -> float | None:
    """How long the test took, from the columns that say so (None when none does)."""
    for column, scale in (("duration_s", 1.0), ("total_ms", 1e-3)):
        value = row.get(column)
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return float(value) * scale
    return None


def _case(suite: ET.Element, classname: str, name: str, failure: str | None,
          seconds: float | None = None) -> None:
    case = ET.SubElement(suite, "testcase", classname=classname, name=name)
    if seconds is not None:
        case.set("time", f"{seconds:.3f}")
    if failure is not None:
        kind = "threshold" if classname.endswith(".assert") else "test"
        ET.SubElement(case, "failure", type=kind, message=failure).text = failure


def _test_name(row: Mapping[str, Any], family: bool) -> str:
    return f"{test_name(row, family)} {row.get('target', '')}".strip()


def build(command: str, rows: Sequence[Mapping[str, Any]], outcomes: Sequence[Outcome], *,
          timestamp: str, hostname: str) -> ET.Element:
    classname = f"qoslab.client.{command}"
    suite = ET.Element("testsuite", name=classname, timestamp=timestamp, hostname=hostname)
    properties = ET.SubElement(suite, "properties")
    first = rows[0] if rows else {}
    for key in ("run_id", "profile", "label"):
        ET.SubElement(properties, "property", name=key, value=str(first.get(key) or ""))
    family = mixed_families(rows)
    for row in rows:
        failed = None if row.get("ok") else str(row.get("error") or "test failed")
        _case(suite, classname, _test_name(row, family), failed, _seconds(row))
    for outcome in outcomes:
        name = outcome.assertion.text + (f" [{outcome.test}]" if outcome.row is not None else "")
        _case(suite, f"{classname}.assert", name, None if outcome.passed else outcome.message)
    cases = suite.findall("testcase")
    failures = sum(1 for c in cases if c.find("failure") is not None)
    total_s = sum(s for s in (_seconds(r) for r in rows) if s is not None)
    suite.attrib.update(tests=str(len(cases)), failures=str(failures), errors="0", skipped="0",
                        time=f"{total_s:.3f}")
    root = ET.Element("testsuites", name="qoslab", tests=str(len(cases)), failures=str(failures),
                      errors="0", time=f"{total_s:.3f}")
    root.append(suite)
    return root


def to_xml(root: ET.Element) -> str:
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
