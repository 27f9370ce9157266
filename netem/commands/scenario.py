"""Scenario runner: profiles × tests × repetitions on the compose project, then a report.

    description: Cache effect over access links
    profiles: [none, rate-10mbit]          # names or paths
    tests: [qos, http]                     # client commands: qos, http, load
    repetitions: 3
    label: cache-vs-links                  # optional, stored in every CSV row
    client_args: {qos: ["--count", "200"]} # optional extra flags per test
    capture: edge                          # optional: a pcap per client run (edge or core, proxy end)
    family: auto                           # optional: auto (default), 4, 6 or both (each run twice)

Each profile is applied to the proxy/server ends by the controller; each client run starts a fresh
client container with the same NETEM_PROFILE, so `netem.commands.startup` shapes the client's end. Every
row is labelled with its profile. Links are cleared at the end, also on Ctrl-C or a failure. With `capture`,
each client run is captured at the proxy's end of that link into OUT/captures/ (row key `capture`).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from netem.core.errors import NetemError, ScenarioError
from netem.core.expect import parse_rows
from netem.core.profile import LINKS
from netem.traces.load import load

TESTS = ("qos", "http", "load")
RUN_TIMEOUT_S = 600.0
_KEYS = ("description", "profiles", "tests", "repetitions", "label", "client_args", "capture", "family")
FAMILIES = ("auto", "4", "6", "both")


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    profiles: tuple[str, ...]
    tests: tuple[str, ...]
    repetitions: int
    label: str
    client_args: dict[str, list[str]] = field(default_factory=dict)
    capture: str | None = None
    family: str = "auto"  # the client's --family: rows say which family carried them (`ip_version`)


def parse_scenario(raw: object, source: str, name: str) -> Scenario:
    raw = ScenarioError.check_top(raw, _KEYS, source)
    profiles = raw.get("profiles")
    if not isinstance(profiles, list) or not profiles or not all(isinstance(p, str) for p in profiles):
        raise ScenarioError(source, "profiles", profiles, "a non-empty list of profile names")
    for profile in profiles:
        load(profile)  # every profile (and every file it names) valid before anything runs
    tests = raw.get("tests", ["qos"])
    if not isinstance(tests, list) or not tests or any(t not in TESTS for t in tests):
        raise ScenarioError(source, "tests", tests, f"a list of {', '.join(TESTS)}")
    reps = raw.get("repetitions", 1)
    if isinstance(reps, bool) or not isinstance(reps, int) or not 1 <= reps <= 1000:
        raise ScenarioError(source, "repetitions", reps, "a whole number 1-1000")
    extra = raw.get("client_args", {})
    if not isinstance(extra, Mapping) or any(k not in TESTS or not isinstance(v, list)
                                             for k, v in extra.items()):
        raise ScenarioError(source, "client_args", extra, "a mapping test → list of flags")
    capture = raw.get("capture")
    if capture is not None and capture not in LINKS:
        raise ScenarioError(source, "capture", capture, f"a link to capture: {' or '.join(LINKS)}")
    family = str(raw.get("family", "auto"))
    if family not in FAMILIES:
        raise ScenarioError(source, "family", raw.get("family"), f"one of {', '.join(FAMILIES)}")
    return Scenario(name, str(raw.get("description", "")), tuple(profiles), tuple(tests), reps,
                    str(raw.get("label", name)), {k: [str(a) for a in v] for k, v in extra.items()}, capture,
                    family)


def load_scenario(path: str) -> Scenario:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(path, "(file)", path, f"a readable YAML file ({exc})") from exc
    return parse_scenario(raw, path, Path(path).stem)


ApplyFn = Callable[[str], None]
ClearFn = Callable[[], None]
ClientFn = Callable[[str, str, list[str]], list[dict[str, Any]]]
# (profile, repetition, test) → a context around that client run that yields the row fields it adds
AroundFn = Callable[[str, int, str], contextlib.AbstractContextManager[dict[str, Any]]]


def _nothing(profile: str, rep: int, test: str) -> contextlib.AbstractContextManager[dict[str, Any]]:
    return contextlib.nullcontext({})


def run_matrix(scenario: Scenario, apply: ApplyFn, clear: ClearFn, client: ClientFn,
               progress: Callable[[str], None], around: AroundFn = _nothing) -> list[dict[str, Any]]:
    """profiles × repetitions × tests, each client run inside `around` (a capture); links cleared in
    `finally` (Ctrl-C included)."""
    rows: list[dict[str, Any]] = []
    total = len(scenario.profiles) * scenario.repetitions * len(scenario.tests)
    done = 0
    try:
        for profile in scenario.profiles:
            apply(profile)
            for rep in range(scenario.repetitions):
                for test in scenario.tests:
                    done += 1
                    progress(f"[{done}/{total}] profile={profile} rep={rep + 1} test={test}")
                    with around(profile, rep + 1, test) as added:
                        got = client(profile, test, scenario.client_args.get(test, []))
                    rows.extend({**row, "profile": profile, "repetition": rep + 1, **added} for row in got)
    finally:
        clear()
        progress("links cleared")
    return rows


def compose_client(project: str, label: str, repo: Path, family: str = "auto") -> ClientFn:
    def run(profile: str, test: str, extra: list[str]) -> list[dict[str, Any]]:
        argv = ["docker", "compose", "-p", project, "run", "--rm", "-T", "--no-deps",
                "-e", f"NETEM_PROFILE={profile}", "client", test, "--profile", profile,
                "--label", label, "--family", family, "--json", *extra]
        done = subprocess.run(argv, cwd=repo, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                              check=False)
        rows = parse_rows(done.stdout)
        if done.returncode not in (0, 1) or not rows:
            raise NetemError(f"client {test} under {profile} exited {done.returncode}: "
                             f"{done.stderr.strip()[-500:]}")
        return rows
    return run


def run_file(path: str, *, project: str | None, out_dir: str) -> int:
    import docker
    from netem.backends import docker_backend
    from netem.commands import controller, report_files
    from netem.core.targets import Selection
    from services.common import log

    scenario = load_scenario(path)
    name = project or docker_backend.default_project()
    log.configure("netem")
    every_end = Selection(link="all")
    # the controller's own apply: traces, per-destination rules and client mixes work in scenarios too,
    # and each client run follows the profile in force
    with docker_backend.Helpers(docker.from_env()) as helpers:  # type: ignore[attr-defined]

        def apply_profile(profile: str) -> None:
            controller.apply_profile(name, profile, helpers, every_end)

        def clear() -> None:
            controller.clear_profile(name, helpers, every_end)

        client = compose_client(name, scenario.label, docker_backend.REPO, scenario.family)
        rows = run_matrix(scenario, apply_profile, clear, client,
                          lambda line: print(line, file=sys.stderr, flush=True),
                          capture_around(name, scenario, Path(out_dir)) if scenario.capture else _nothing)
    written = report_files.write(scenario.name, rows, Path(out_dir))
    print("\n".join(str(p) for p in written))
    return 0


def capture_around(project: str, scenario: Scenario, out_dir: Path) -> AroundFn:
    """Each client run captured at the proxy's end of `scenario.capture`; the row gets the file."""
    from netem.commands.capture import default_path, make_spec
    from netem.commands.capture_run import capturing

    assert scenario.capture is not None
    spec = make_spec(scenario.capture)

    @contextlib.contextmanager
    def around(profile: str, rep: int, test: str) -> Iterator[dict[str, Any]]:
        tag = f"{scenario.name}-{Path(profile).stem}-r{rep}-{test}"
        path = default_path(out_dir, spec.link, spec.side, time.time(), tag=tag)
        with capturing(project, spec, path):
            yield {"capture": str(path)}
    return around
