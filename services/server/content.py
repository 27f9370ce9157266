"""`python -m services.server.content DIR`: create DIR/generated/{1MiB,10MiB,100MiB}.bin (idempotent).

The bytes are pseudo-random from a fixed seed (incompressible, identical on every machine), generated in
1 MiB blocks so memory stays flat. A file that already has the right size is left alone.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Sequence

SIZES = {"1MiB.bin": 1 << 20, "10MiB.bin": 10 << 20, "100MiB.bin": 100 << 20}
_BLOCK = 1 << 20


def block(index: int) -> bytes:
    """Block `index` of the deterministic stream (SHAKE-256 of a fixed seed and the index)."""
    return hashlib.shake_256(b"qoslab-content-v1:%d" % index).digest(_BLOCK)


def generate(directory: str, sizes: dict[str, int] | None = None) -> list[str]:
    """Write the missing files under `directory/generated`; return the paths written."""
    target = os.path.join(directory, "generated")
    os.makedirs(target, exist_ok=True)
    written = []
    for name, size in (sizes or SIZES).items():
        path = os.path.join(target, name)
        if os.path.isfile(path) and os.path.getsize(path) == size:
            continue
        tmp = path + ".tmp"
        with open(tmp, "wb") as handle:
            for index in range(0, size, _BLOCK):
                handle.write(block(index // _BLOCK)[: min(_BLOCK, size - index)])
        os.replace(tmp, path)
        written.append(path)
    return written


def main(argv: Sequence[str]) -> int:
    if len(argv) != 1 or argv[0].startswith("-"):
        print("usage: python -m services.server.content DIR", file=sys.stderr)
        return 2
    for path in generate(argv[0]):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
