"""How many probes of each test id the echo has seen, so clients can split loss by direction.

Bounded: a run that ended long ago is forgotten first (least recently seen test id), so a flood of
distinct test ids cannot grow the table without limit.
"""

from __future__ import annotations

from collections import OrderedDict

DEFAULT_MAX_TESTS = 4096


class ProbeCounts:
    def __init__(self, max_tests: int = DEFAULT_MAX_TESTS) -> None:
        if max_tests < 1:
            raise ValueError("max_tests must be at least 1")
        self.max_tests = max_tests
        self._counts: OrderedDict[int, int] = OrderedDict()

    def count(self, test_id: int) -> int:
        """Record one probe of `test_id`; return how many of that test have arrived, this one included."""
        counts = self._counts
        seen = counts.pop(test_id, 0) + 1
        counts[test_id] = seen
        if len(counts) > self.max_tests:
            counts.popitem(last=False)
        return seen

    def __len__(self) -> int:
        return len(self._counts)
