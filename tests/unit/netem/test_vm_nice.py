"""QEMU's priority (netem/vm/host/boot.py): what QOSLAB_VM_NICE asks for, and bad values refused."""

from __future__ import annotations

import pytest

from netem.vm.errors import VmError
from netem.vm.host.boot import DEFAULT_NICE, NICE_ENV, qemu_nice


def test_unset_or_empty_asks_the_default() -> None:
    assert qemu_nice({}) == qemu_nice({NICE_ENV: " "}) == DEFAULT_NICE < 0


@pytest.mark.parametrize(("raw", "value"), [("0", 0), ("-20", -20), ("19", 19), (" 5 ", 5)])
def test_a_value_in_range_is_taken(raw: str, value: int) -> None:
    assert qemu_nice({NICE_ENV: raw}) == value


@pytest.mark.parametrize("raw", ["-21", "20", "high", "1.5"])
def test_a_value_out_of_range_or_not_an_integer_is_refused_by_name(raw: str) -> None:
    with pytest.raises(VmError, match=NICE_ENV):
        qemu_nice({NICE_ENV: raw})
