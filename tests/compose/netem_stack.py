"""One running stack for every check that measures netem between the containers (the `netem_stack`
fixture of tests/compose/conftest.py): up once per test session, profiles changed by the controller.

Under QEMU's emulation a stack lifecycle (`up --force-recreate` to the client's exit) costs a minute, a
controller `apply` a few seconds, so the checks share one stack instead of re-creating it per profile:
server and proxy, plus a long-lived client container (the "prober") whose own edge end the controller
shapes like any client's and in which each measurement runs the client's `qos` once (`docker exec`).
The stack starts with START_PROFILE (the container start path: `netem.startup` in each entrypoint);
what that start did is kept in `start` and the links are cleared before the first check.

How a new check joins (e.g. a trace replay, a responsiveness run, IPv6): take `netem_stack` as a
fixture, `apply()` what it needs (or `clear()`), run the client with `qos()` or `client()`, and leave the
links cleared. pytest keeps the users of `netem_stack` together, so the stack is up only while they run
and never beside a module's own stack (fixed subnets); in the VM they all share one boot
(tests/vm/test_compose_vm.py lists the files).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shlex
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netem.core.expect import parse_rows
from netem.vm.guest.stack import read_samples  # raw CSV → rtt_ms, owd_up_ms, owd_down_ms

from .stack import REPO, Stack

PROFILES_DIR = REPO / "tests/compose/profiles"  # mounted at /profiles in every service
START_PROFILE = "/profiles/asymmetric.yaml"
SERVICES = ("server", "proxy", "client")
READY_TIMEOUT = "120s"  # the prober's first run waits this long for the relay at most


def in_container(path: Path) -> str:
    """A profile under PROFILES_DIR as the containers see it."""
    return f"/profiles/{path.relative_to(PROFILES_DIR).as_posix()}"


@dataclass
class Start:
    """What the stack's start with START_PROFILE did: each service's exit code (None: running), the
    qdisc each link end reported then (tc's own read-back, by end label), and the logs of a failed start."""

    exits: dict[str, int | None]
    qdiscs: dict[str, dict[str, object]]
    logs: str = ""


@dataclass
class NetemStack(Stack):
    prober: str = ""  # container ID of the long-lived client (what `compose run -d` prints)
    start: Start = field(default_factory=lambda: Start({}, {}))
    alive: bool = True
    _docker: Any = None

    def netem(self, *args: str) -> tuple[int, str]:
        """`python -m netem --project P ARGS…` in this process (no interpreter start per change):
        (exit code, what it printed)."""
        from netem.commands import cli

        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = cli.main(["--project", self.project, *args])
        return code, out.getvalue()

    def apply(self, profile: str | Path, link: str = "all") -> None:
        code, said = self.netem("apply", str(profile), "--link", link, "--no-calibrate")
        assert code == 0, said[-3000:]

    def clear(self) -> None:
        code, said = self.netem("clear")
        assert code == 0, said[-3000:]

    def client(self, *argv: str, timeout_s: float = 300.0) -> tuple[int, str, str]:
        """`python3 -m services.client ARGV…` in the prober: (exit code, stdout, stderr). Through the docker
        CLI: the SDK's exec_run leaves its socket open in older releases (Debian's, in the VM)."""
        done = subprocess.run(["docker", "exec", self.prober, "python3", "-m", "services.client", *argv],
                              capture_output=True, text=True, timeout=timeout_s, check=False)
        return done.returncode, done.stdout, done.stderr

    def qos(self, *args: str, family: str = "4") -> dict[str, Any]:
        """One `qos` run through the relay over `family` (4 or 6: the links are dual-stack), its JSON row
        (not written to any CSV)."""
        code, out, err = self.client("qos", "--json", "--csv", "", "--ready-timeout", READY_TIMEOUT,
                                     "--family", family, *args)
        rows = [r for r in parse_rows(out) if r.get("kind") == "qos"]
        assert code == 0 and rows, f"qos {shlex.join(args)} exited {code}\n{out[-2000:]}\n{err[-2000:]}"
        return rows[-1]

    def qos_raw(self, *args: str, keep: str = "", family: str = "4") -> tuple[dict[str, Any], str]:
        """`qos` as above, and the text of the per-probe `--raw` CSV the run writes to the results (read
        here: no second `docker exec`, which costs seconds under emulation); kept there as `keep` if named,
        else removed."""
        name = keep or f"qoslab-samples-{uuid.uuid4().hex[:8]}.csv"
        row = self.qos(*args, "--raw", f"/results/{name}", family=family)
        path = self.results_dir / name
        text = path.read_text(encoding="utf-8")
        if not keep:
            path.unlink()
        return row, text

    def qos_samples(self, *args: str, family: str = "4") -> tuple[dict[str, Any], dict[str, list[float]]]:
        """`qos_raw`'s row and its per-probe samples (ms) by raw column (rtt_ms, owd_up_ms, owd_down_ms;
        lost probes left out)."""
        row, text = self.qos_raw(*args, family=family)
        samples = read_samples(text)
        assert samples["rtt_ms"], f"no samples in the raw file of qos {shlex.join(args)}: {text[:500]}"
        return row, samples

    def docker(self) -> Any:
        """One Docker SDK client for the stack's life (closed in `down`)."""
        if self._docker is None:
            import docker

            self._docker = docker.from_env()  # type: ignore[attr-defined]
        return self._docker

    def containers(self) -> dict[str, Any]:
        """This project's containers by service (the prober for the client), through the Docker SDK:
        each compose CLI call costs seconds under emulation."""
        found = {}
        for c in self.docker().containers.list(
                all=True, filters={"label": f"com.docker.compose.project={self.project}"}):
            service = c.labels.get("com.docker.compose.service", "")
            if service in SERVICES and (service != "client" or self.prober in (c.id, c.name)):
                found[service] = c
        return found

    def exits(self) -> dict[str, int | None]:
        """Each service's exit code (None: running or not there); the client's is the prober's."""
        found: dict[str, int | None] = dict.fromkeys(SERVICES)
        for service, c in self.containers().items():
            if c.status == "exited":
                found[service] = int(c.attrs["State"]["ExitCode"])
        return found

    def start_services(self, profile: str) -> None:
        """server and proxy (re-)created with NETEM_PROFILE=`profile`, and a new prober."""
        env = dict(self.env, NETEM_PROFILE=profile)
        self.compose("up", "-d", "--force-recreate", "--no-deps", "server", "proxy", env=env)
        if self.prober:
            self.compose("rm", "-f", "-s", "client", check=False)
        # the client's own entrypoint (netem.startup with the profile, then the service user), idling
        done = self.compose("run", "-d", "--no-deps", "--entrypoint", "qoslab-entrypoint", "client", "sleep",
                            "infinity", env=env)
        self.prober = done.stdout.strip().splitlines()[-1]

    def wait_started(self, timeout_s: float = 120.0) -> dict[str, int | None]:
        """Until every service has exited or finished its start (server and proxy listening, the
        prober's entrypoint past netem.startup, dropping privileges); → the exit codes."""
        ready = {"server": "server.listening", "proxy": "proxy.listening",
                 "client": "entrypoint.drop_privileges"}
        deadline = time.monotonic() + timeout_s
        while True:
            exits = self.exits()
            if any(code is not None for code in exits.values()):
                time.sleep(2)  # the others fail the same way within moments
                return self.exits()
            logs = {svc: c.logs().decode(errors="replace") for svc, c in self.containers().items()}
            if all(mark in logs.get(svc, "") for svc, mark in ready.items()):
                return exits
            assert time.monotonic() < deadline, f"the stack did not start in {timeout_s:g} s: {logs}"
            time.sleep(1)

    def qdiscs(self) -> dict[str, dict[str, object]]:
        """What tc reports as the root qdisc of every link end, by end label (as `netem show` does)."""
        from netem.backends.docker_backend import discover
        from netem.core.engine import read_root

        found, _ = discover(self.project, client=self.docker())
        return {t.label: (state.summary() if (state := read_root(t)) else {"qdisc": "none"}) for t in found}

    def down(self) -> None:
        if self.alive:
            self.alive = False
            print(self.logs()[-4000:])
            self.compose("down", "-v", "--remove-orphans", "-t", "2", check=False, timeout=180)
            if self._docker is not None:
                self._docker.close()
                self._docker = None


def override(dest: Path) -> Path:
    """The compose override: every service sees PROFILES_DIR at /profiles."""
    services = {s: {"volumes": [f"{PROFILES_DIR}:/profiles:ro"]} for s in SERVICES}
    dest.write_text(json.dumps({"services": services}), encoding="utf-8")  # JSON is YAML
    return dest


def compose_files(extra: Path) -> list[str]:
    """compose.yaml (or COMPOSE_FILE: the VM adds its override that way), then `extra`."""
    names = [n for n in os.environ.get("COMPOSE_FILE", "").split(os.pathsep) if n] or ["compose.yaml"]
    return [a for name in [*(str(REPO / n) for n in names), str(extra)] for a in ("-f", name)]
