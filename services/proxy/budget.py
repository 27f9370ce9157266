"""One bound on the request bodies all client connections hold at once (issue 16 #15).

Bodies of forwarded methods are buffered until the request is complete (then sent upstream with an exact
Content-Length); without a shared bound, four 60 MiB POSTs raised the proxy's RSS by 486–759 MiB. A body
that would push the total past `--body-buffer` is refused with 503 (the client may retry); GET/HEAD
bodies are dropped as they arrive and cost nothing.
"""

from __future__ import annotations


class BodyBudget:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.used = 0
        self.refused = 0

    def take(self, size: int) -> bool:
        """Reserve `size` more bytes; False (nothing reserved) when that would pass the bound."""
        if self.used + size > self.max_bytes:
            self.refused += 1
            return False
        self.used += size
        return True

    def give(self, size: int) -> None:
        self.used = max(0, self.used - size)
