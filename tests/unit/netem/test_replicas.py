"""Per-replica assignment: shares stay within one replica per class for every count; indices; errors."""

from __future__ import annotations

import pytest

from netem.core.replicas import (
    AssignmentError,
    IndexClass,
    ShareClass,
    by_index,
    by_share,
    parse_indices,
    share_sequence,
)

MIX = [ShareClass("4g", 70), ShareClass("3g", 20), ShareClass("sat", 10)]


def test_every_prefix_matches_the_shares_within_one_replica() -> None:
    sequence = share_sequence(MIX, 200)
    for n in range(1, 201):
        for cls in MIX:
            assert abs(sequence[:n].count(cls.name) - n * cls.share_pct / 100) < 1, (n, cls)
    assert [sequence[:10].count(c.name) for c in MIX] == [7, 2, 1]


def test_a_replicas_class_never_changes_as_more_join() -> None:
    assert share_sequence(MIX, 12) == share_sequence(MIX, 40)[:12]
    assert by_share(MIX, 7) == share_sequence(MIX, 7)[-1]


def test_twelve_replicas_in_three_equal_thirds() -> None:
    thirds = [ShareClass("a", 50), ShareClass("b", 25), ShareClass("c", 25)]
    assert [share_sequence(thirds, 12).count(n) for n in "abc"] == [6, 3, 3]


@pytest.mark.parametrize(("classes", "words"), [
    ([ShareClass("a", 70), ShareClass("b", 20)], "shares sum to 90%, not 100% (a 70% + b 20%)"),
    ([ShareClass("a", 100), ShareClass("b", 0)], "every share must be > 0% (b)"),
    ([], "at least one class"),
])
def test_share_errors(classes: list[ShareClass], words: str) -> None:
    with pytest.raises(AssignmentError) as info:
        share_sequence(classes, 3)
    assert words in str(info.value)


def test_by_index_with_ranges_and_a_rest_class() -> None:
    classes = [IndexClass("near", parse_indices("1-4, 9")), IndexClass("far", None)]
    assert [by_index(classes, i) for i in (1, 4, 5, 9, 30)] == ["near", "near", "far", "near", "far"]
    assert by_index([IndexClass("one", frozenset({1}))], 2) is None


@pytest.mark.parametrize(("text", "words"),
                         [("0-3", "count from 1"), ("4-2", "ranges go up"), ("a", "e.g. 1-4,9")])
def test_index_syntax_errors(text: str, words: str) -> None:
    with pytest.raises(AssignmentError, match=words):
        parse_indices(text)


def test_overlapping_indices_and_two_rest_classes_are_refused() -> None:
    with pytest.raises(AssignmentError, match="replica 3 is in both a and b"):
        by_index([IndexClass("a", frozenset({1, 3})), IndexClass("b", frozenset({3}))], 1)
    with pytest.raises(AssignmentError, match="only one class"):
        by_index([IndexClass("a", None), IndexClass("b", None)], 1)
