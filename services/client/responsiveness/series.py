"""The saved record of a run (`--series FILE.json`): config, timeline, every sample, the rows.

Raw samples, not derived curves (irtt's habit): `plot` derives the throughput from the byte counts,
so a figure can be redrawn later with other smoothing. Times are seconds since the test's start.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from services.client.responsiveness.analyze import probes
from services.client.responsiveness.config import RespConfig
from services.client.responsiveness.records import Records
from services.client.results import json_safe

FORMAT = "qoslab-responsiveness/1"


class SeriesError(ValueError):
    """A file that is not a saved responsiveness run."""


def _ms(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 4)


def build(config: RespConfig, records: Records, rows: Sequence[Mapping[str, Any]],
          meta: Mapping[str, Any]) -> dict[str, Any]:
    start = records.start_mono_ns
    found = probes(records)
    return {
        "format": FORMAT, **meta, "start_wall_ns": records.start_wall_ns, "config": config.as_dict(),
        "phases": [{"name": p.name, "start_s": p.start_s, "end_s": p.end_s,
                    "window_start_s": p.window_start_s} for p in config.plan()],
        "bytes": [[round((s.at_ns - start) / 1e9, 4), s.down_bytes, s.up_bytes] for s in records.bytes],
        "udp": [[round(t.t_s, 4), _ms(t.value)] for t in found.udp],
        "foreign": [[round(tcp.t_s, 4), _ms(tcp.value), _ms(http.value)]
                    for tcp, http in zip(found.tcp_f, found.http_f, strict=True)],
        "foreign_failed": [round(t, 4) for t in found.foreign_errors],
        "self": [[round((s.at_ns - start) / 1e9, 4), s.direction, round(s.rtt_us / 1e3, 3)]
                 for s in records.self_samples],
        "rows": [json_safe(dict(row)) for row in rows],
    }


def save(path: str | os.PathLike[str], data: Mapping[str, Any]) -> None:
    target = Path(path)
    if target.parent != Path(""):
        target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, separators=(",", ":"), default=_default) + "\n", encoding="utf-8")


def _default(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SeriesError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SeriesError(f"{path} is not a saved responsiveness run ({FORMAT})")
    return data


def is_series(path: str | os.PathLike[str]) -> bool:
    """Whether `path` is a saved run (`plot` tells them from raw CSVs, the VM's results channel from other
    JSON files): a JSON object whose `format` is ours, its keys in any order."""
    try:
        load(path)
    except SeriesError:
        return False
    return True
