"""The VM's result rows (`netem.vm.guest.results` prints them) appended to the host's results directory.

`collect` appends them, in order, to the files of the same names with the client's own CSV writer
(header once), and writes each saved responsiveness run (`*.json`) whole; a file name that is not a plain
`*.csv` or `*.json` name is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from services.client.results import append_rows


def collect(rows: Sequence[dict[str, Any]], dest: Path) -> dict[str, int]:
    """Append the exported rows to `dest/FILE`; → rows written per file. Names are plain file names."""
    written: dict[str, int] = {}
    for name in dict.fromkeys(str(r["file"]) for r in rows):
        if Path(name).name != name or not name.endswith((".csv", ".json")):
            raise ValueError(f"refusing a result file name from the VM: {name!r}")
        mine = [r for r in rows if r["file"] == name]
        if name.endswith(".json"):
            dest.mkdir(parents=True, exist_ok=True)
            (dest / name).write_text(str(mine[-1]["text"]), encoding="utf-8")
            written[name] = 1
            continue
        columns = [str(c) for c in mine[0]["columns"]]
        dicts = [dict(zip(columns, [str(v) for v in r["row"]], strict=False)) for r in mine]
        append_rows(dest / name, dicts, columns)
        written[name] = len(dicts)
    return written
