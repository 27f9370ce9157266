"""The VM's result CSVs, printed row by row on the console (`python3 -m netem.vm.guest.results DIR`).

Every row of every `DIR/*.csv` goes out behind `channel.RESULTS`'s marker with its file name and the
file's header, then the row count; the host appends them (`netem.vm.host.results.collect`). Only CSV
files travel: the rows are what a compose run produces there.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from netem.vm.channel import RESULTS


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
