"""The `vm` marker and the condition under which the QEMU tests run."""

from __future__ import annotations

import os
import shutil

import pytest

from netem.vm import build

VM_ENV = "QOSLAB_VM"
NEEDED = ("qemu-system-x86_64", "debootstrap", "apt-get", "dpkg-deb")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "vm: boots a stock Debian kernel in QEMU (real netem; minutes)")


def vm_skip_reason() -> str | None:
    """None when the VM tests should run: QOSLAB_VM=1, or not 0 and every tool is here as root."""
    setting = os.environ.get(VM_ENV, "")
    if setting == "0":
        return f"{VM_ENV}=0"
    missing = [tool for tool in NEEDED if shutil.which(tool) is None]
    if missing:
        return (f"needs {', '.join(missing)} (apt-get install qemu-system-x86 debootstrap); "
                f"see docs/vm.md")
    if setting != "1" and os.geteuid() != 0:
        return "building the VM image needs root (debootstrap); set QOSLAB_VM=1 to force"
    return None


@pytest.fixture(scope="session")
def image() -> build.Image:
    """The VM image (built or reused once per session); skips, or fails when QOSLAB_VM=1 asked for it."""
    reason = vm_skip_reason()
    if reason:
        if os.environ.get(VM_ENV) == "1":  # asked for (scripts/test): a missing piece is a failure
            pytest.fail(f"{VM_ENV}=1 but the VM cannot run: {reason}")
        pytest.skip(reason)
    return build.build(log=lambda text: print(f"qoslab-vm: {text}"))
