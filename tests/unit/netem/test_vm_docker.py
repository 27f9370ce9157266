"""The pure parts of Docker in the VM: the guest script, QEMU's disks, compose's environment, the rows
that come home, the images and modules that go in (no QEMU, no Docker, no root)."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pytest
import yaml

from netem.core.errors import ProfileError
from netem.vm import checks
from netem.vm.channel import RESULTS, Channel
from netem.vm.errors import VmError
from netem.vm.guest import results as guest_results
from netem.vm.host import boot, build, compose, dockerdisk, initscript, kernel, results
from netem.vm.host.build import Image
from netem.vm.host.console import Console
from services.client.results import COLUMNS

REPO = Path(__file__).resolve().parents[3]


def test_docker_script_starts_dockerd_on_the_data_disk_and_keeps_the_commands_exit_code() -> None:
    text = initscript.docker_script("false\n")
    assert f"mount -t ext4 {initscript.DOCKER_DISK} /var/lib/docker" in text
    assert "DOCKER_RAMDISK=true dockerd --data-root /var/lib/docker" in text
    assert text.index("docker info") < text.index("false\n") < text.index("rc=$?") < text.index("umount")
    assert text.rstrip().endswith("exit $rc")
    # the compose tests in the VM use the images of the Docker disk (the VM's checkout cannot build them)
    assert f"{initscript.PREBUILT_ENV}=1" in text.split("dockerd")[0]


def test_drives_become_virtio_disks_in_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(boot.MEMORY_ENV, raising=False)
    image = Image(tmp_path / "vmlinuz", (), "k")
    drives = (boot.Drive(tmp_path / "a,b.qcow2", snapshot=True),
              boot.Drive(tmp_path / "i.tar", "raw", readonly=True))
    argv = boot.qemu_argv(image, tmp_path / "initrd", drives=drives)
    assert argv[argv.index("-m") + 1] == boot.DEFAULT_MEMORY
    specs = [argv[i + 1] for i, a in enumerate(argv) if a == "-drive"]
    assert specs == [f"file={tmp_path}/a,,b.qcow2,if=virtio,format=qcow2,snapshot=on",
                     f"file={tmp_path}/i.tar,if=virtio,format=raw,readonly=on"]
    monkeypatch.setenv(boot.MEMORY_ENV, "6G")
    argv = boot.qemu_argv(image, tmp_path / "initrd")
    assert argv[argv.index("-m") + 1] == "6G" and "-drive" not in argv


def test_compose_variables_are_read_from_compose_yaml() -> None:
    names = compose.compose_variables((REPO / "compose.yaml").read_text())
    assert {"NETEM_PROFILE", "CLIENT_LABEL", "PROXY_MODE"} <= set(names)
    assert "QOSLAB_RESULTS" not in names  # a host path means nothing inside the VM
    assert compose.compose_variables("a: ${X:-1} $Y $$NOT_A_VAR ${QOSLAB_RESULTS}") == ["X", "Y"]


def test_vm_environment_passes_the_hosts_values_and_extra_wins() -> None:
    text = "x: ${NETEM_PROFILE:-} ${CLIENT_LABEL:-}"
    env = compose.vm_environment(text, {"CLIENT_LABEL": "a", "HOME": "/root", "NETEM_PROFILE": "4g"},
                                 {"CLIENT_LABEL": "b"}, REPO)
    assert env == {"CLIENT_LABEL": "b", "NETEM_PROFILE": "4g"}


def test_profile_paths_must_be_inside_the_checkouts_netem(tmp_path: Path) -> None:
    assert compose.profile_in_checkout("satellite", REPO) == "satellite"
    assert compose.profile_in_checkout("none", REPO) == "none"
    inside = REPO / "netem/profiles/lossy.yaml"
    assert compose.profile_in_checkout(str(inside), REPO) == "netem/profiles/lossy.yaml"
    outside = tmp_path / "mine.yaml"
    outside.write_text("description: x\nedge: {delay: 5ms}\n")
    with pytest.raises(VmError, match="must be inside"):
        compose.profile_in_checkout(str(outside), REPO)
    with pytest.raises(ProfileError):
        compose.profile_in_checkout("no-such-profile", REPO)


def test_body_runs_compose_then_exports_rows_then_exits_with_composes_code() -> None:
    text = compose.body(["up", "--exit-code-from", "client"], {"CLIENT_LABEL": "a b"})
    lines = text.splitlines()
    assert lines == ["export CLIENT_LABEL='a b'", "docker compose up --exit-code-from client", "rc=$?",
                     "python3 -m netem.vm.guest.results results", "exit $rc"]


def test_results_dir_follows_compose() -> None:
    assert compose.results_dir({}, REPO) == REPO / "results"
    assert compose.results_dir({"QOSLAB_RESULTS": "/x"}, REPO) == Path("/x")


def test_rows_travel_over_the_console_and_append_to_the_hosts_csv(tmp_path: Path) -> None:
    vm_dir, host_dir = tmp_path / "vm", tmp_path / "host"
    vm_dir.mkdir()
    with (vm_dir / "qos_result.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for run in ("r1", "r2"):
            writer.writerow([run if c == "run_id" else "q,\"x\"" if c == "label" else "" for c in COLUMNS])
    (vm_dir / "notes.txt").write_text("not a result")
    console = io.StringIO()
    assert guest_results.main([str(vm_dir)], out=console) == 0
    echo = io.StringIO()
    kept = Console(echo, [RESULTS])
    kept.write("boot noise\n")
    kept.write(console.getvalue())
    rows, count = RESULTS.parse(kept.getvalue())
    assert echo.getvalue() == "boot noise\n"  # row lines are not echoed
    assert count == 2 and len(rows) == 2
    assert results.collect(rows, host_dir) == {"qos_result.csv": 2}
    assert results.collect(rows, host_dir) == {"qos_result.csv": 2}
    with (host_dir / "qos_result.csv").open(newline="") as handle:
        back = list(csv.DictReader(handle))
    assert [r["run_id"] for r in back] == ["r1", "r2", "r1", "r2"]
    assert back[0]["label"] == "q,\"x\""
    assert (host_dir / "qos_result.csv").read_text().count("timestamp_utc") == 1


def test_collect_refuses_file_names_that_leave_the_results_directory(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="refusing"):
        results.collect([{"file": "../x.csv", "columns": ["a"], "row": ["1"]}], tmp_path)


def test_channel_skips_mangled_rows_and_reads_the_count() -> None:
    channel = Channel("ROW ", "ROWS=")
    text = "\n".join([channel.row_line({"a": 1}), "[ 1.2] ROW {broken", "ROW [1]", channel.count_line(3)])
    assert channel.parse(text) == ([{"a": 1}], 3)
    assert channel.parse("ROWS=²") == ([], None)


def test_compose_images_are_the_services_started_by_up() -> None:
    data = yaml.safe_load((REPO / "compose.yaml").read_text())
    images = dockerdisk.compose_images(data)
    assert {"qoslab/server:dev", "qoslab/proxy:dev", "qoslab/client:dev"} <= set(images)
    data["services"]["tool"] = {"image": "x/tool:1", "profiles": ["tools"]}
    assert "x/tool:1" not in dockerdisk.compose_images(data)
    with pytest.raises(VmError):
        dockerdisk.compose_images({"services": {}})


def test_disk_key_changes_with_any_image_id(tmp_path: Path) -> None:
    image = Image(tmp_path / "vmlinuz", (tmp_path / "rootfs-1.cpio",), "k")
    key = dockerdisk.disk_key(image, ["a", "b"], ["sha256:1", "sha256:2"])
    assert key != dockerdisk.disk_key(image, ["a", "b"], ["sha256:1", "sha256:3"])
    other = Image(tmp_path / "vmlinuz", (tmp_path / "rootfs-2.cpio",), "k")
    assert key != dockerdisk.disk_key(other, ["a", "b"], ["sha256:1", "sha256:2"])


def test_module_tree_takes_the_boot_modules_their_dependencies_and_kernel_net(tmp_path: Path) -> None:
    moddir = tmp_path / "lib/modules/v"
    for rel in ("kernel/net/sched/sch_netem.ko", "kernel/net/bridge/bridge.ko",
                "kernel/fs/overlayfs/overlay.ko", "kernel/lib/crc.ko", "kernel/sound/snd.ko"):
        (moddir / rel).parent.mkdir(parents=True, exist_ok=True)
        (moddir / rel).write_bytes(b"\0depends=crc\0" if "overlay" in rel else b"\0depends=\0")
    wanted = kernel.tree_wanted(moddir, boot=("overlay",), dirs=("kernel/net",))
    assert wanted == ["overlay", "bridge", "sch_netem"]
    _, deps = kernel.module_deps(moddir, wanted)
    assert kernel.closure(deps, wanted) == {"overlay", "crc", "bridge", "sch_netem"}


def test_compose_plugin_is_found_in_dockers_plugin_directories(tmp_path: Path) -> None:
    assert build.compose_plugin((str(tmp_path),)) is None
    real = tmp_path / "real-compose"
    real.write_bytes(b"\x7fELF")
    (tmp_path / "docker-compose").symlink_to(real)
    assert build.compose_plugin((str(tmp_path / "missing"), str(tmp_path))) == real
    assert os.access(real, os.R_OK)


def test_a_one_sided_check_has_no_upper_limit() -> None:
    assert checks.at_least("c", "σ", 10.0, 64.0, 0.5, "ms").ok
    assert checks.at_least("c", "σ", 10.0, 5.0, 0.5, "ms").ok
    assert not checks.at_least("c", "σ", 10.0, 4.9, 0.5, "ms").ok
    assert not checks.Check("c", "d", 10.0, 64.0, 5.0, "ms").ok


def test_the_private_dockerd_never_touches_the_hosts_network(tmp_path: Path) -> None:
    argv = dockerdisk.private_dockerd_argv(tmp_path)
    assert argv[:3] == ["unshare", "--net", "--"]  # without a bridge, dockerd deletes docker0 at start
    assert argv[argv.index("-H") + 1] == f"unix://{tmp_path}/d.sock"
    assert "--iptables=false" in argv and str(tmp_path / "data") in argv


def test_saved_responsiveness_runs_travel_whole_and_other_json_stays(tmp_path: Path) -> None:
    vm_dir, host_dir = tmp_path / "vm", tmp_path / "host"
    vm_dir.mkdir()
    saved = '{"format":"qoslab-responsiveness/1","label":"bloat","udp":[[0.0,12.5]]}\n'
    (vm_dir / "rrul-bloat.json").write_text(saved)
    (vm_dir / "other.json").write_text('{"format": "something else"}')
    console = io.StringIO()
    assert guest_results.main([str(vm_dir)], out=console) == 0
    rows, count = RESULTS.parse(console.getvalue())
    assert count == 1 and rows[0]["file"] == "rrul-bloat.json"
    assert results.collect(rows, host_dir) == {"rrul-bloat.json": 1}
    assert (host_dir / "rrul-bloat.json").read_text() == saved and not (host_dir / "other.json").exists()
