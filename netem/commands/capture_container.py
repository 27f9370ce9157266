"""A capture from a sidecar container (I/O shell of `netem.commands.capture`): needs Docker only.

tcpdump runs in a container of the controller image (it carries tcpdump) that shares the target
container's network namespace (`network_mode: container:ID`), writes the pcap inside, and stops on
SIGINT like the host's; the file is then copied out through the Docker API and the sidecar removed.
So `docker compose run --rm netem capture edge` and a host without tcpdump, nsenter or root capture
the same link end as the host path (`capture_run`), with the same tcpdump arguments.
"""

from __future__ import annotations

import contextlib
import io
import signal
import tarfile
import time
from pathlib import Path
from typing import Any

from netem.commands.capture import CaptureError, CaptureResult, is_listening, parse_summary, tcpdump_args

SIDECAR_PATH = "/tmp/qoslab-capture.pcap"
SIDECAR_LABEL = "qoslab.netem.capture"
POLL_S = 0.1


class ContainerCapture:
    """One tcpdump sidecar; `stop()` ends it with SIGINT, copies the pcap to `path`, removes the sidecar."""

    def __init__(self, client: Any, image: str, target: Any, dev: str, path: Path, count: int | None,
                 bpf: str) -> None:
        self.path = path
        self.client = client  # this capture's own: closed with the sidecar
        self.returncode: int | None = None
        self._stderr = ""
        try:
            self.sidecar = client.containers.run(
                image, tcpdump_args(dev, SIDECAR_PATH, count, bpf), entrypoint=["tcpdump"], user="root",
                detach=True, network_mode=f"container:{target.id}", cap_add=["NET_ADMIN", "NET_RAW"],
                labels={SIDECAR_LABEL: target.name})
        except Exception as exc:  # the SDK's ImageNotFound/APIError: say which image and why
            client.close()
            raise CaptureError(f"cannot start a capture container from {image!r} "
                               "(build it: docker compose build netem)", str(exc)) from exc

    def stderr(self) -> str:
        return str(self.sidecar.logs(stdout=False, stderr=True).decode(errors="replace"))

    def wait_listening(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            said = self.stderr()
            if any(is_listening(line) for line in said.splitlines()):
                return
            self.sidecar.reload()
            if self.sidecar.status == "exited":
                break
            time.sleep(POLL_S)
        lines = self.stderr().splitlines()[-5:]
        self._remove()
        raise CaptureError(f"tcpdump did not start capturing within {timeout_s:g} s", "\n".join(lines))

    def tail(self) -> str:
        return "\n".join(self.stderr().splitlines()[-5:])

    def wait(self) -> int:
        """Until tcpdump ends by itself (`--count` reached)."""
        self.returncode = int(self.sidecar.wait()["StatusCode"])
        return self.returncode

    def stop(self, settle_s: float = 0.2, timeout_s: float = 10.0) -> CaptureResult:
        """Let tcpdump take what just crossed the link, SIGINT it, copy the pcap out."""
        self.sidecar.reload()
        if self.sidecar.status == "running":
            time.sleep(settle_s)
            self.sidecar.kill(signal=int(signal.SIGINT))
        try:
            self.returncode = int(self.sidecar.wait(timeout=timeout_s)["StatusCode"])
            self._stderr = self.stderr()
            self._copy_out()
        finally:
            self._remove()
        return parse_summary(self.path, self._stderr)

    def _copy_out(self) -> None:
        chunks, _ = self.sidecar.get_archive(SIDECAR_PATH)
        with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
            member = tar.extractfile(Path(SIDECAR_PATH).name)
            if member is None:
                raise CaptureError(f"no pcap in the capture container (tcpdump exited {self.returncode})",
                                   self._stderr)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_bytes(member.read())

    def _remove(self) -> None:
        with contextlib.suppress(Exception):  # already gone: nothing left to clean
            self.sidecar.remove(force=True)
        self.client.close()
