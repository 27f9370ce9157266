"""The VM's Docker data disk: /var/lib/docker with the project's images loaded, made once per image set.

The images are built on the host (`docker compose build`, the very images a native run uses). A second,
private dockerd on the host (its own data root and socket, no bridge, no iptables: it touches nothing of
the host's engine) `docker load`s them at native speed; `mkfs.ext4 -d` turns its data root into a file
system image, stored as qcow2. The guest runs the same Docker version (Debian's docker.io), so it reads
that overlay2 store as its own. Every run boots with the disk copy-on-write (QEMU snapshot=on), so each
run starts from the same state and nothing is loaded again until an image changes (keyed by image IDs).
Loading inside the VM instead (TCG) took minutes for the same 274 MiB.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from netem.tools.process import stop
from netem.vm.errors import VmError
from netem.vm.host.build import Image, Log, prune
from netem.vm.host.cache import digest, run_tool

DISK_SIZE = "16G"  # the file system's size; the qcow2 holds only what is written (~0.3 GB for 3 images)
KEEP_DISKS = 2
BUILD_TIMEOUT_S = 1800.0
DOCKERD_WAIT_S = 60.0


def compose_images(compose: Mapping[str, Any]) -> list[str]:
    """The `image:` of every service that `docker compose up` starts (services in no profile)."""
    services = compose.get("services") or {}
    images = [str(svc["image"]) for svc in services.values()
              if isinstance(svc, Mapping) and svc.get("image") and not svc.get("profiles")]
    if not images:
        raise VmError("compose.yaml names no service image to carry into the VM")
    return sorted(set(images))


def load_compose(root: Path) -> dict[str, Any]:
    data = yaml.safe_load((root / "compose.yaml").read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise VmError(f"{root / 'compose.yaml'} is not a compose file")
    return data


def build_images(root: Path, log: Log) -> None:
    """`docker compose build` on the host, so the VM runs this checkout's code."""
    log("docker compose build (host): the images the VM will run")
    run_tool(["docker", "compose", "build", "--quiet"], BUILD_TIMEOUT_S, cwd=root)


def image_ids(images: Sequence[str]) -> list[str]:
    """The local image ID of each image; a VmError names the missing ones."""
    done = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", *images], capture_output=True,
                          text=True, timeout=60, check=False)
    ids = done.stdout.split()
    if done.returncode != 0 or len(ids) != len(images):
        raise VmError(f"images not on the host: {', '.join(images)} (run `docker compose build`)",
                      stderr=done.stderr)
    return ids


def disk_key(image: Image, images: Sequence[str], ids: Sequence[str]) -> str:
    """Same images on the same guest Docker (the rootfs layer) → the same disk."""
    return digest([image.layers[0].name, *images, *ids])


def data_disk(image: Image, images: Sequence[str], cache: Path, log: Log) -> Path:
    """The cached disk for these images, made now on the host if there is none."""
    ids = image_ids(images)
    dest = cache / f"docker-{disk_key(image, images, ids)}.qcow2"
    if dest.exists():
        dest.touch()
        return dest
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="qdisk-", dir="/tmp") as tmp:  # short: a socket path inside
        work = Path(tmp)
        with private_dockerd(work) as host:
            log(f"loading {', '.join(images)} into the VM's Docker store (private dockerd on the host)")
            save = subprocess.Popen(["docker", "save", *images], stdout=subprocess.PIPE)
            try:
                run_tool(["docker", "-H", host, "load", "-q"], BUILD_TIMEOUT_S, stdin=save.stdout)
            finally:
                if save.stdout is not None:
                    save.stdout.close()
                if save.wait(timeout=BUILD_TIMEOUT_S) != 0:
                    raise VmError(f"docker save {' '.join(images)} failed (exit {save.returncode})")
        shutil.rmtree(work / "data" / "network", ignore_errors=True)  # the guest makes its own networks
        raw = work / "docker.img"
        run_tool(["mkfs.ext4", "-q", "-F", "-L", "qoslab-docker", "-d", str(work / "data"), str(raw),
                  DISK_SIZE], BUILD_TIMEOUT_S)
        disk = cache / f"{dest.name}.tmp"
        run_tool(["qemu-img", "convert", "-O", "qcow2", str(raw), str(disk)], BUILD_TIMEOUT_S)
        os.replace(disk, dest)
    log(f"Docker disk {dest.name} ready in {time.monotonic() - started:.1f}s")
    prune(cache, "docker-*.qcow2", KEEP_DISKS)
    return dest


def private_dockerd_argv(work: Path) -> list[str]:
    """dockerd with everything of its own under `work`, in a network namespace of its own: a dockerd
    without a bridge deletes the host's docker0 at start, which would break the host's engine."""
    return ["unshare", "--net", "--", "dockerd", "--data-root", str(work / "data"), "--exec-root",
            str(work / "x"), "-H", f"unix://{work / 'd.sock'}", "--pidfile", str(work / "d.pid"),
            "--bridge", "none", "--iptables=false", "--ip-masq=false", "--storage-driver", "overlay2"]


@contextlib.contextmanager
def private_dockerd(work: Path) -> Iterator[str]:
    """A dockerd of our own under `work` (data, exec root, socket); → its `-H` address. Always stopped."""
    sock = work / "d.sock"
    argv = private_dockerd_argv(work)
    if shutil.which("dockerd") is None:
        raise VmError("dockerd not found on the host (scripts/setup-docker installs Docker)")
    with (work / "dockerd.log").open("w") as logfile:
        proc = subprocess.Popen(argv, stdout=logfile, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + DOCKERD_WAIT_S
        while subprocess.run(["docker", "-H", f"unix://{sock}", "info"], capture_output=True,
                             timeout=60, check=False).returncode != 0:
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (work / "dockerd.log").read_text(errors="replace")[-2000:]
                raise VmError("the private dockerd for the VM's disk did not start", stderr=tail)
            time.sleep(0.2)
        yield f"unix://{sock}"
    finally:
        stop(proc, grace_s=60.0)
