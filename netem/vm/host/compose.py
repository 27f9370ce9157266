"""`python -m netem.vm compose -- ARGS…`: `docker compose ARGS…` on this checkout, inside the VM.

For kernels without sch_netem: the stack runs under a stock Debian kernel in QEMU, as real containers
from the same images (built on the host, carried in on the cached Docker disk), with the same compose
files, entrypoint, `netem.boot` and client. compose.yaml's variables (NETEM_PROFILE, CLIENT_LABEL, …)
pass through from the host's environment; when compose ends, the rows the run wrote to the VM's
`results/` are appended to the host's results directory (QOSLAB_RESULTS, else ./results, as compose
uses), and the command exits with docker compose's code.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from netem.core.profile import load_profile, resolve_path
from netem.vm.channel import RESULTS
from netem.vm.errors import VmError
from netem.vm.host import boot, build, dockerdisk, initscript, results
from netem.vm.host.cache import cache_dir, repo_root
from netem.vm.host.console import Console

RESULTS_ENV = "QOSLAB_RESULTS"
HOST_ONLY = frozenset({RESULTS_ENV})  # a host path: the VM always writes to its checkout's results/
_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


def compose_variables(compose_text: str) -> list[str]:
    """The environment variables compose.yaml interpolates (`${NAME}`, `${NAME:-default}`, `$NAME`)."""
    return sorted(set(_VARIABLE.findall(compose_text.replace("$$", ""))) - HOST_ONLY)


def profile_in_checkout(value: str, root: Path) -> str:
    """NETEM_PROFILE as the containers must see it: a name as is, a path relative to the checkout.

    The images carry the checkout's netem/ as /app/netem (the working directory), so a profile file must
    live under netem/; anything else would apply nothing inside the containers.
    """
    name = value.strip()
    if name in ("", "none"):
        return name
    path = resolve_path(name)  # an unknown name is a ProfileError here, before anything boots
    if "/" not in name and path.suffix == ".yaml" and not name.endswith((".yaml", ".yml")):
        load_profile(name)
        return name
    full = (path if path.is_absolute() else Path.cwd() / path).resolve()
    netem_dir = (root / "netem").resolve()
    if not full.is_relative_to(netem_dir):
        raise VmError(f"NETEM_PROFILE={value}: a profile file must be inside {netem_dir} (the images carry "
                      "netem/); put it under netem/profiles/")
    load_profile(str(full))
    return full.relative_to(root.resolve()).as_posix()


def vm_environment(compose_text: str, environ: Mapping[str, str], extra: Mapping[str, str],
                   root: Path) -> dict[str, str]:
    """What compose inside the VM sees: the host's values of compose.yaml's variables, then `extra`."""
    env = {name: environ[name] for name in compose_variables(compose_text) if name in environ}
    env.update(extra)
    if env.get("NETEM_PROFILE", "").strip():
        env["NETEM_PROFILE"] = profile_in_checkout(env["NETEM_PROFILE"], root)
    return env


def body(args: Sequence[str], env: Mapping[str, str]) -> str:
    """The VM's script: docker compose, then the result rows, then compose's exit code."""
    command = initscript.run_script(["docker", "compose", *args], env)
    return command + "rc=$?\npython3 -m netem.vm.guest.results results\nexit $rc\n"


def results_dir(environ: Mapping[str, str], root: Path) -> Path:
    return Path(environ[RESULTS_ENV]) if environ.get(RESULTS_ENV) else root / "results"


def run(args: Sequence[str], *, extra_env: Mapping[str, str], timeout_s: float, build_images: bool = True,
        log: build.Log, out: TextIO = sys.stdout) -> int:
    """Build, boot, run compose inside, carry the rows home; → docker compose's exit code."""
    root = repo_root()
    compose_text = (root / "compose.yaml").read_text(encoding="utf-8")
    env = vm_environment(compose_text, os.environ, extra_env, root)  # a bad profile stops here
    if build_images:
        dockerdisk.build_images(root, log)
    image = build.build(root, log=log)
    if not image.has_compose:
        raise VmError("no `docker compose` v2 plugin on this host to carry into the VM "
                      "(scripts/setup-docker installs one)")
    images = dockerdisk.compose_images(dockerdisk.load_compose(root))
    disk = dockerdisk.data_disk(image, images, cache_dir(), log)
    console = Console(out, [RESULTS])
    result = boot.run(image, [], timeout_s=timeout_s, out=console, drives=(boot.Drive(disk, snapshot=True),),
                      script=initscript.docker_script(body(args, env)))
    rows, count = RESULTS.parse(console.getvalue())
    dest = results_dir(os.environ, root)
    if count is None:
        log(f"the VM reported no result rows (exit {result.exit_code})")
    elif count != len(rows):
        log(f"the VM announced {count} result rows, {len(rows)} arrived intact")
    for name, n in results.collect(rows, dest).items():
        log(f"appended {n} row(s) to {dest / name}")
    ready = f"{result.ready_s:.1f}s" if result.ready_s is not None else "never"
    log(f"docker compose exited {result.exit_code}; VM ready after {ready}, total {result.total_s:.1f}s")
    if count is not None and count != len(rows) and result.exit_code == 0:
        return 1
    return result.exit_code
