"""The VM's result CSVs, printed row by row on the console (`python3 -m netem.vm.guest.results DIR`).

Every row of every `DIR/*.csv` goes out behind `channel.RESULTS`'s marker with its file name and the
file's header, then the row count; the host appends them (`netem.vm.host.results.collect`). Besides the
CSVs only saved responsiveness runs travel (`DIR/*.json` written by `client responsiveness --series`,
one row each, whole), so their plots can be drawn on the host.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from netem.vm.channel import RESULTS
from services.client.responsiveness.series import is_series


def export_rows(folder: Path) -> Iterator[dict[str, Any]]:
    """One dict per CSV row under `folder`: {"file", "columns", "row"} (files in name order), then one
    {"file", "text"} per saved responsiveness run."""
    yield from _csv_rows(folder)
    for path in sorted(folder.glob("*.json")):
        if is_series(path):
            yield {"file": path.name, "text": path.read_text(encoding="utf-8")}


def _csv_rows(folder: Path) -> Iterator[dict[str, Any]]:
    for path in sorted(folder.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            columns = next(reader, None)
            if columns is None:
                continue
            for values in reader:
                yield {"file": path.name, "columns": columns, "row": values}


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    folder = Path(args[0] if args else "results")
    rows = list(export_rows(folder)) if folder.is_dir() else []
    for row in rows:
        out.write(RESULTS.row_line(row) + "\n")
    out.write(RESULTS.count_line(len(rows)) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
