"""Fast tests of the VM harness's pure parts (no QEMU, no root)."""

from __future__ import annotations

import io
import stat
import time
from pathlib import Path

import pytest

from netem import topology
from netem.vm import checks
from netem.vm.errors import VmError
from netem.vm.guest import netns
from netem.vm.host import boot, cache, cli, cpio, initscript, kernel


def test_cpio_newc_header_golden() -> None:
    entry = cpio.file_entry("a", b"xyz", 0o644)
    head = cpio.header(entry, 1)
    assert head[:6] == b"070701"
    assert head[6:14] == b"00000001"  # inode
    assert int(head[14:22], 16) == stat.S_IFREG | 0o644
    assert int(head[54:62], 16) == 3  # file size
    assert int(head[94:102], 16) == 2  # name size with NUL
    assert len(head) % 4 == 0 and head.endswith(b"a\0" + b"\0" * (len(head) - 112))


def test_cpio_archive_ends_with_trailer_and_is_aligned() -> None:
    out = io.BytesIO()
    count = cpio.write(out, [cpio.dir_entry("d"), cpio.file_entry("d/f", b"hello")])
    data = out.getvalue()
    assert count == 2 and len(data) % 4 == 0
    assert b"TRAILER!!!\0" in data and data.index(b"hello") % 4 == 0


def test_tree_entries_lists_dirs_before_files(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "f").write_text("1")
    (tmp_path / "l").symlink_to("x/f")
    names = [(e.name, stat.S_IFMT(e.mode)) for e in cpio.tree_entries(tmp_path)]
    assert names == [("l", stat.S_IFLNK), ("x", stat.S_IFDIR), ("x/f", stat.S_IFREG)]


@pytest.mark.parametrize(("line", "code"), [
    ("QOSLAB-VM-EXIT=0\r\n", 0), ("[ 1.0] QOSLAB-VM-EXIT=17", 17), ("QOSLAB-VM-EXIT=", None),
    ("exit 3", None),
])
def test_parse_exit(line: str, code: int | None) -> None:
    assert initscript.parse_exit(line) == code


def test_run_script_quotes_every_word() -> None:
    text = initscript.run_script(["sh", "-c", "echo $HOME; exit 3"], {"A": "x y"})
    assert text == "export A='x y'\nsh -c 'echo $HOME; exit 3'\n"


def test_image_package_from_apt_cache_depends() -> None:
    out = "linux-image-amd64\n  Depends: linux-image-6.1.0-56-amd64\n"
    assert kernel.image_package(out) == "linux-image-6.1.0-56-amd64"
    with pytest.raises(VmError):
        kernel.image_package("linux-image-amd64\n")


def test_modinfo_depends_and_load_order() -> None:
    ko = b"\x7fELF...\x00license=GPL\x00depends=a,b\x00name=c\x00"
    assert kernel.modinfo_depends(ko) == ["a", "b"]
    deps = {"c": ["a", "b"], "b": ["a"], "a": []}
    assert kernel.load_order(deps, ["c"]) == ["a", "b", "c"]
    with pytest.raises(VmError, match="nope"):
        kernel.load_order(deps, ["nope"])


def test_module_name_normalises() -> None:
    assert kernel.module_name("sch-netem.ko.xz") == "sch_netem"


def test_setup_argv_wires_compose_addresses() -> None:
    argv = [" ".join(a) for a in netns.setup_argv()]
    for (service, link), address in topology.ADDRESSES.items():
        assert f"ip -n {service} addr add {address}/{topology.PREFIX_LEN} dev eth-{link}" in argv
    for (service, link), address in topology.ADDRESSES6.items():  # dual-stack, as compose's networks
        assert f"ip -n {service} addr add {address}/{topology.PREFIX_LEN6} dev eth-{link} nodad" in argv
    assert argv.index("ip netns add client") < argv.index("ip link add edge-a type veth peer name edge-b")


def test_code_digest_changes_with_content(tmp_path: Path) -> None:
    (tmp_path / "netem").mkdir()
    (tmp_path / "netem" / "a.py").write_text("1")
    (tmp_path / "netem" / "__pycache__").mkdir()
    (tmp_path / "netem" / "__pycache__" / "a.pyc").write_text("x")
    files = cache.code_files(tmp_path, ("netem",))
    assert files == [Path("netem/a.py")]
    before = cache.files_digest(tmp_path, files)
    (tmp_path / "netem" / "a.py").write_text("2")
    assert cache.files_digest(tmp_path, files) != before


def test_the_image_ships_what_the_vm_runs_and_no_tests() -> None:
    files = cache.code_files(cache.repo_root())
    assert not [f for f in files if f.parts[0] == "tests"]
    for module in ("guest/fidelity", "guest/scenario", "guest/stack", "guest/cases", "checks"):
        assert Path(f"netem/vm/{module}.py") in files
    assert cli.FIDELITY_CMD[-1] == "netem.vm.guest.fidelity"


def test_binomial_band_and_markov_inflation() -> None:
    check = checks.binomial("c", "loss", 10.0, 11.0, 900)
    assert check.tolerance == pytest.approx(3.0) and check.ok
    assert checks.markov_inflation(1.0, 30.0) == pytest.approx(1.69 / 0.31)


def test_robust_sigma_of_a_normal_sample() -> None:
    import random
    rng = random.Random(1)
    sample = [rng.gauss(0, 2.0) for _ in range(20000)]
    assert checks.robust_sigma(sample) == pytest.approx(2.0, rel=0.03)
    assert checks.quantile([], 0.5) != checks.quantile([], 0.5)  # NaN


def test_boot_streams_console_and_reads_the_exit_marker() -> None:
    out = io.StringIO()
    started = time.monotonic()
    argv = ["sh", "-c", "printf '\\033c\\033[2Jboot\\r\\nQOSLAB-VM-READY x\\nQOSLAB-VM-EXIT=4\\n'"]
    code, ready = boot._boot(argv, started + 20, out, started)
    assert code == 4 and ready is not None
    assert out.getvalue() == "boot\nQOSLAB-VM-READY x\nQOSLAB-VM-EXIT=4\n"


def test_boot_kills_the_process_at_the_deadline() -> None:
    started = time.monotonic()
    code, ready = boot._boot(["sleep", "30"], started + 1.0, io.StringIO(), started)
    assert code == boot.EXIT_TIMEOUT and ready is None
    assert time.monotonic() - started < 15
