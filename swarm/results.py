"""Rows from the client tasks' logs → `qos_result.csv` rows (pure), wherever the tasks ran.

With `command: [suite, --json]` each client task prints one `{"config": …, "result": ROW}` line per
test on stdout; `docker service logs` brings every task's output to the manager, so the rows of all
replicas on all nodes are collected without access to the nodes themselves.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from services.client.results import COLUMNS


def rows_from_log(lines: Iterable[str]) -> list[dict[str, Any]]:
    """The result objects of the JSON lines among a task log's lines (other lines are skipped)."""
    rows = []
    for line in lines:
        text = line.strip()
        start = text.find("{")
        if start < 0:
            continue
        try:
            obj = json.loads(text[start:])
        except json.JSONDecodeError:
            continue
        result = obj.get("result") if isinstance(obj, dict) else None
        if isinstance(result, dict) and "run_id" in result:
            rows.append({key: value for key, value in result.items() if key in COLUMNS})
    return rows


def new_rows(rows: Iterable[dict[str, Any]], existing: Iterable[dict[str, str]]) -> list[dict[str, Any]]:
    """Rows not collected before (same run, kind and time), so collecting twice adds nothing."""
    seen = {(r.get("run_id"), r.get("kind"), r.get("timestamp_utc")) for r in existing}
    return [r for r in rows if (r.get("run_id"), r.get("kind"), r.get("timestamp_utc")) not in seen]
