"""run_cache_tests.py scores like the suite's results page: dependencies honoured, browser-only uncounted."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

SCRIPT = Path(__file__).resolve().parents[3] / "tests" / "conformance" / "run_cache_tests.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_cache_tests", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def case(test_id: str, kind: str = "required", deps: tuple[str, ...] = (), **flags: bool) -> dict[str, Any]:
    return {"id": test_id, "kind": kind, "depends_on": list(deps), **flags}


def test_outcomes_follow_the_suite() -> None:
    runner = load()
    tests = [
        case("base"), case("broken"), case("on-base", deps=("base",)), case("on-broken", deps=("broken",)),
        case("chain", deps=("on-broken",)), case("setup"), case("retry"), case("browser", browser_only=True),
        case("unrun"), case("check-dep", kind="check", deps=("broken",)),
    ]
    results = {"base": True, "broken": ["Assertion", "no"], "on-base": True, "on-broken": True, "chain": True,
               "setup": ["Setup", "x"], "retry": ["Setup", "retry"], "browser": None, "check-dep": True}
    totals, failures = runner.score(tests, results)
    assert totals["required"] == {"counted": 8, "passed": 2, "failed": 1, "dependency": 2, "setup": 1,
                                  "retry": 1, "untested": 1}
    assert totals["check"] == {"counted": 1, "dependency": 1}
    assert not any("browser" in line for line in failures)
    assert any(line.split()[1:3] == ["dependency", "on-broken:"] for line in failures)
