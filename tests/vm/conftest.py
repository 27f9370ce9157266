"""The `vm` marker and the condition under which the QEMU tests run."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping

import pytest

from netem.vm.host import build

VM_ENV = "QOSLAB_VM"
NEEDED = ("qemu-system-x86_64", "debootstrap", "apt-get", "dpkg-deb")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "vm: boots a stock Debian kernel in QEMU (real netem; minutes)")


def vm_skip_reason(env: Mapping[str, str] = os.environ) -> str | None:
    """None when the VM tests should run: only when asked for with QOSLAB_VM=1 (scripts/test sets it after
    scripts/vm-setup); a bare `pytest` never builds an image or boots QEMU by itself."""
    if env.get(VM_ENV, "") != "1":
        return f"the QEMU tests run only when asked for: {VM_ENV}=1 (scripts/test sets it); see docs/vm.md"
    missing = [tool for tool in NEEDED if shutil.which(tool) is None]
    if missing:
        return (f"needs {', '.join(missing)} (apt-get install qemu-system-x86 debootstrap); "
                f"see docs/vm.md")
    return None


@pytest.fixture(scope="session")
def image() -> build.Image:
    """The VM image (built or reused once per session); skips, or fails when QOSLAB_VM=1 asked for it."""
    reason = vm_skip_reason()
    if os.environ.get(VM_ENV) != "1":
        pytest.skip(reason or "")
    if reason:  # asked for (scripts/test): a missing piece is a failure
        pytest.fail(f"{VM_ENV}=1 but the VM cannot run: {reason}")
    return build.build(log=lambda text: print(f"qoslab-vm: {text}"))
