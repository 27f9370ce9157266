"""The VM's result CSVs, carried to the host's results directory row by row.

Inside the VM (`python3 -m netem.vm.results DIR`) every row of every `DIR/*.csv` is printed behind
CHANNEL's marker with its file name and the file's header; on the host `collect` appends them, in
order, to the files of the same names in the host's results directory with the client's own CSV
writer (header once). Only CSV files travel: the rows are what a compose run produces there.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from netem.vm.console import Channel
from services.client.results import append_rows

CHANNEL = Channel("QOSLAB-VM-RESULT ", "QOSLAB-VM-RESULTS=")


def export_rows(folder: Path) -> Iterator[dict[str, Any]]:
    """One dict per CSV row under `folder`: {"file", "columns", "row"} (files in name order)."""
    for path in sorted(folder.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            columns = next(reader, None)
            if columns is None:
                continue
            for values in reader:
                yield {"file": path.name, "columns": columns, "row": values}


def collect(rows: Sequence[dict[str, Any]], dest: Path) -> dict[str, int]:
    """Append the exported rows to `dest/FILE`; → rows written per file. Names are plain file names."""
    written: dict[str, int] = {}
    for name in dict.fromkeys(str(r["file"]) for r in rows):
        if Path(name).name != name or not name.endswith(".csv"):
            raise ValueError(f"refusing a result file name from the VM: {name!r}")
        mine = [r for r in rows if r["file"] == name]
        columns = [str(c) for c in mine[0]["columns"]]
        dicts = [dict(zip(columns, [str(v) for v in r["row"]], strict=False)) for r in mine]
        append_rows(dest / name, dicts, columns)
        written[name] = len(dicts)
    return written


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    folder = Path(args[0] if args else "results")
    rows = list(export_rows(folder)) if folder.is_dir() else []
    for row in rows:
        out.write(CHANNEL.row_line(row) + "\n")
    out.write(CHANNEL.count_line(len(rows)) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
