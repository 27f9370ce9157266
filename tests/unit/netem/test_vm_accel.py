"""QOSLAB_VM_ACCEL: the KVM/TCG decision from fake probe boots (no QEMU, no /dev/kvm)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from netem.vm.host import accel
from netem.vm.host.accel import Outcome, Probe

MSR = Probe(Outcome.FAILED, "QEMU exited 1: qemu-system-x86_64: error: failed to set MSR 0x10a", 0.2)
HANG = Probe(Outcome.HUNG, "no kernel line within 6 s (last: Booting from ROM..)", 6.0)
BOOT = Probe(Outcome.BOOTED, "[    0.000000] Linux version 6.1.0-57-amd64", 0.4)


class FakeBoot:
    """What a KVM boot of the kernel does with each CPU model; records which models were tried."""

    def __init__(self, outcomes: Mapping[str, Probe]) -> None:
        self.outcomes = outcomes
        self.tried: list[str] = []

    def __call__(self, model: str) -> Probe:
        self.tried.append(model)
        return self.outcomes[model]


def test_this_machine_lands_on_tcg_after_one_hang() -> None:
    # KVM_CREATE_VM works, -cpu host is refused, the next model hangs after decompression
    boot = FakeBoot({"host": MSR, "host,-arch-capabilities": HANG, "qemu64": HANG})
    found = accel.choose("auto", None, boot)
    assert (found.name, found.cpu) == ("tcg", "max")
    assert boot.tried == ["host", "host,-arch-capabilities"]  # a hang ends the search: no third timeout
    assert "failed to set MSR 0x10a" in found.reason and "no kernel line within 6 s" in found.reason
    assert found.argv() == ["-accel", "tcg", "-cpu", "max"]


def test_a_working_kvm_host_gets_kvm_with_the_first_model_that_boots() -> None:
    boot = FakeBoot({"host": MSR, "host,-arch-capabilities": BOOT, "qemu64": HANG})
    found = accel.choose("auto", None, boot)
    assert (found.name, found.cpu) == ("kvm", "host,-arch-capabilities")
    assert boot.tried == ["host", "host,-arch-capabilities"]
    assert "first line after 0.4 s" in found.reason and "failed to set MSR" in found.reason
    assert accel.choose("auto", None, FakeBoot({"host": BOOT})).cpu == "host"


def test_no_usable_kvm_device_means_tcg_without_a_probe() -> None:
    boot = FakeBoot({})
    found = accel.choose("auto", "/dev/kvm: No such file or directory", boot)
    assert found.name == "tcg" and boot.tried == []
    assert "/dev/kvm: No such file or directory" in found.reason


def test_every_model_refused_means_tcg() -> None:
    boot = FakeBoot(dict.fromkeys(accel.KVM_CPU_MODELS, MSR))
    assert accel.choose("auto", None, boot).name == "tcg"
    assert boot.tried == list(accel.KVM_CPU_MODELS)


@pytest.mark.parametrize(("mode", "name"), [("tcg", "tcg"), ("kvm", "kvm")])
def test_a_forced_mode_probes_nothing(mode: str, name: str) -> None:
    boot = FakeBoot({})
    assert accel.choose(mode, None, boot).name == name and boot.tried == []


def test_an_unknown_mode_is_refused_with_the_allowed_values() -> None:
    with pytest.raises(ValueError, match="auto, kvm, tcg"):
        accel.choose("hvf", None, FakeBoot({}))


def test_the_decision_is_kept_per_key(tmp_path: Path) -> None:
    calls: list[int] = []

    def decide() -> accel.Accel:
        calls.append(1)
        return accel.Accel("tcg", "max", "auto: probed")

    first = accel._cached(tmp_path / "accel.json", "boot-1", decide)
    again = accel._cached(tmp_path / "accel.json", "boot-1", decide)
    other = accel._cached(tmp_path / "accel.json", "boot-2", decide)
    assert len(calls) == 2  # the same host boot reuses the probe; a new one probes again
    assert (first.name, again.name, other.name) == ("tcg", "tcg", "tcg")
    assert "probed earlier this host boot" in again.reason
