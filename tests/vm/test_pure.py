"""Fast tests of the VM harness's pure parts (no QEMU, no root)."""

from __future__ import annotations

import io
import math
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

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
    assert check.tolerance == pytest.approx(3.0, abs=150 / 900) and check.ok  # 3σ, to within one count
    assert checks.markov_inflation(1.0, 30.0) == pytest.approx(1.69 / 0.31)


def _binomial_pmf(n: int, p: float) -> list[float]:
    """P(X = k) for X ~ Binomial(n, p), by the ratio of neighbours (no big integers, no log gamma)."""
    pmf = [(1 - p) ** n]
    for k in range(n):
        pmf.append(pmf[-1] * (n - k) / (k + 1) * p / (1 - p))
    return pmf


def _gilbert_pmf(n: int, p: float, r: float) -> list[float]:
    """P(k of n lost) on a two-state chain that loses every packet in its bad state (p: good → bad, r: bad →
    good), started in its stationary state: exact, by dynamic programming over (state, count)."""
    good, bad = [1 - p / (p + r)] + [0.0] * n, [0.0, p / (p + r)] + [0.0] * (n - 1)
    for _ in range(n - 1):
        to_good, to_bad = [0.0] * (n + 1), [0.0] * (n + 1)
        for k in range(n):
            to_good[k] += good[k] * (1 - p) + bad[k] * r
            to_bad[k + 1] += good[k] * p + bad[k] * (1 - r)
        good, bad = to_good, to_bad
    return [g + b for g, b in zip(good, bad, strict=True)]


def _rejected(pmf: list[float], p_pct: float, inflate: float = 1.0) -> float:
    """The probability that a correct loss rate fails its check: the mass of the counts it says NO to."""
    n = len(pmf) - 1
    return sum(mass for k, mass in enumerate(pmf)
               if not checks.binomial("c", "loss", p_pct, 100 * k / n, n, inflate).ok)


def test_few_expected_losses_get_the_binomial_tails_not_a_normal_band() -> None:
    """CI of 88804dc: 4g's 0.1 % down, 3 losses of 500 probes, failed ±0.424 % (3σ of a normal), an outcome
    of 1.4 % probability. The band must hold a correct rate to the 0.27 % of ±3σ and still fail one 10×
    too high."""
    ci = checks.binomial("4g", "loss down", 0.1, 0.6, 500)
    assert ci.ok and "exact tails: 0-4 of 500" in ci.note
    assert not checks.binomial("4g", "loss down", 0.1, 1.0, 500).ok  # 5 of 500: p ≈ 0.0002
    for n, p_pct in ((500, 0.1), (500, 0.5), (300, 1.0), (1500, 0.1), (900, 10.0)):
        assert _rejected(_binomial_pmf(n, p_pct / 100), p_pct) <= 2 * checks.TAIL, (n, p_pct)
    assert 1 - sum(_binomial_pmf(500, 0.001)[:3]) > 0.014  # what the normal band alone rejected: P(X ≥ 3)
    assert checks.binomial_counts(500, 0.0) == (0, 0) and checks.binomial_counts(10, 1.0) == (10, 10)


def test_bursty_losses_get_skewed_tails_too() -> None:
    """The lossy profile's Gilbert chain (p 1 %, r 30 %, 500 probes): ~5 bursts expected, so its count is as
    skewed as a rare loss. The variance-inflated normal band failed a correct chain 0.86 % of the time; the
    exact tails over n / inflation trials hold it near the 0.27 % of ±3σ."""
    inflate, p_pct = checks.markov_inflation(1.0, 30.0), 100 / 31
    pmf = _gilbert_pmf(500, 0.01, 0.30)
    assert _rejected(pmf, p_pct, inflate) <= 2 * checks.TAIL
    sigma_pct = 100 * math.sqrt(p_pct / 100 * (1 - p_pct / 100) / 500 * inflate)
    assert sum(m for k, m in enumerate(pmf) if abs(100 * k / 500 - p_pct) > 3 * sigma_pct) > 0.008


def test_the_compose_sessions_loss_rows_together_rarely_fail_a_correct_stack() -> None:
    """The loss rows of tests/compose/test_netem_profiles.py that can fail a correct stack (4g 0.1 % and
    satellite 0.5 % each way, asymmetric 5 % up and 1 % down, lossy's chain each way; 500 probes; lan's
    0 % cannot): with normal bands one of them failed 6.1 % of correct sessions, 4g's two alone 2.9 %."""
    inflate = checks.markov_inflation(1.0, 30.0)
    rows = [_rejected(_binomial_pmf(500, p / 100), p) for p in (0.1, 0.1, 0.5, 0.5, 5.0, 1.0)]
    rows += 2 * [_rejected(_gilbert_pmf(500, 0.01, 0.30), 100 / 31, inflate)]
    assert 1 - math.prod(1 - r for r in rows) < 0.01


def test_a_path_that_lost_nothing_in_its_references_is_not_taken_to_lose_nothing() -> None:
    """The twelve-replica test in the VM (14:35): near, 0 % configured, lost 1 of 600 while its prober lost 0
    of 400. Taking the path's loss as 0 made the exact region 0-0; the Jeffreys estimate lets a loss or
    two through and still fails a replica given another class's loss (mid: 2 % each way). What it gives
    up: a 1 % round-trip loss where none is configured (6 of 600 expected) now passes 28 % of the time, not
    0.24 %."""
    path = checks.path_loss_pct(0, 400)
    assert path == pytest.approx(100 * 0.5 / 401)
    near = checks.with_path_loss(0.0, path)
    assert not checks.binomial("near", "loss", checks.with_path_loss(0.0, 0.0), 100 / 600, 600).ok
    assert checks.binomial("near", "loss", near, 100 / 600, 600).ok
    assert checks.binomial("near", "loss", near, 400 / 600, 600).ok
    assert not checks.binomial("near", "loss", near, 600 / 600, 600).ok
    lo, hi = checks.binomial_counts(600, near / 100)
    assert (lo, hi) == (0, 4)
    # mid's loss (2 % each way) on a near replica falls outside the region nearly always; 1 % often not
    assert sum(_binomial_pmf(600, 0.0396)[:hi + 1]) < 1e-5
    missed = sum(_binomial_pmf(600, 0.01)[:hi + 1])
    assert missed == pytest.approx(0.284, abs=0.001)
    # with losses seen the estimate is their rate; combined, a probe must pass netem and the path
    assert checks.path_loss_pct(30, 1000) == pytest.approx(3.0, abs=0.05)
    assert checks.with_path_loss(5.0, 1.0) == pytest.approx(5.95)


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


def test_boot_runs_qemu_at_the_niceness_asked_and_says_so() -> None:
    """Raising one's niceness is always permitted; lowering it only with CAP_SYS_NICE (probed here): the
    child runs at what it got and the console says so either way."""
    show = [sys.executable, "-c", "import os; print('child at', os.getpriority(os.PRIO_PROCESS, 0))"]
    current = os.getpriority(os.PRIO_PROCESS, 0)
    lower = [sys.executable, "-c", f"import os; os.setpriority(os.PRIO_PROCESS, 0, {current - 1})"]
    may_lower = current > -20 and subprocess.run(lower, check=False).returncode == 0
    for asked, granted in ((min(current + 1, 19), True), (max(current - 1, -20), may_lower)):
        if asked == 0:  # 0 means "as inherited": nothing to ask
            continue
        out = io.StringIO()
        started = time.monotonic()
        boot._boot(show, started + 20, out, started, nice=asked)
        got = asked if granted else current
        note = "" if granted else f" (asked {asked}: not permitted)"
        assert f"qoslab-vm: QEMU runs at nice {got}{note}\n" in out.getvalue(), out.getvalue()
        assert f"child at {got}\n" in out.getvalue()


def test_a_whole_script_gets_the_accelerator_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Docker runs boot with a script of their own: its tests read ACCEL_USED_ENV like any command's."""
    from netem.vm.channel import ACCEL_USED_ENV

    written: list[str] = []

    def write_initrd(image: object, text: str, path: Path) -> Path:
        written.append(text)
        return path

    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(boot, "resolve", lambda *args: boot.TCG)
    monkeypatch.setattr(boot, "write_initrd", write_initrd)
    monkeypatch.setattr(boot, "qemu_argv", lambda *args, **kwargs: ["qemu"])
    monkeypatch.setattr(boot, "_boot", lambda *args: (0, 1.0))
    image = SimpleNamespace(vmlinuz=Path("vmlinuz"))
    for script, argv in (("echo body\n", []), (None, ["echo", "command"])):
        assert boot.run(image, argv, script=script, out=io.StringIO()).exit_code == 0  # type: ignore[arg-type]
    assert [text.splitlines()[0] for text in written] == [f"export {ACCEL_USED_ENV}=tcg"] * 2, written
    assert written[0].endswith("echo body\n") and written[1].endswith("echo command\n")


def test_boot_kills_the_process_at_the_deadline() -> None:
    started = time.monotonic()
    code, ready = boot._boot(["sleep", "30"], started + 1.0, io.StringIO(), started)
    assert code == boot.EXIT_TIMEOUT and ready is None
    assert time.monotonic() - started < 15


def test_a_failed_vm_session_ends_its_message_with_the_failing_rows() -> None:
    """CI keeps a long failure message's tail: the failing rows must be there, once each."""
    from tests.vm.test_compose_vm import failed_checks

    row = "| asymmetric | one-way down median − reference | 13.000 ms | 10.207 ms | ±1.518 (…) | NO |"
    console = "\n".join([row, "| asymmetric | loss up | 5.000 % | 5.2 % | ±2.9 | yes |",
                         "loss runs of asymmetric: 20 loss runs; longest 3 from seq 7 at 0.14 s",
                         "loss runs of lan: no loss",
                         f"E         {row}", "FAILED tests/compose/test_netem_profiles.py::x[asymmetric]"])
    tail = failed_checks(console)
    assert tail.count(row) == 1 and "loss up" not in tail and "lan" not in tail
    assert "loss runs of asymmetric" in tail and "FAILED tests/compose" in tail
