"""Profiles: one YAML file per profile, settings per link (`edge`, `core`, `all`) and direction.

    description: Typical 4G/LTE mobile access      # required
    all:   {delay: 20ms, jitter: 5ms}              # both links, both directions
    edge:
      up:   {rate: 10mbit}                         # client → server on the edge link
      down: {rate: 40mbit, loss: 0.1%}             # server → client
    steps:                                         # optional, time-varying (cumulative)
      - at: 10s
        edge: {down: {rate: 5mbit}}

Resolution per end: all < all.DIR < LINK < LINK.DIR, field by field. Each step merges onto the state
before it; a step may not change an end's qdisc kind (tc qdisc change cannot switch kinds).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from netem import topology
from netem.core import rules, units
from netem.core.errors import ProfileError
from netem.core.fields import Impairment, merge, parse_impairment

LINKS = tuple(link.name for link in topology.LINKS)  # edge, core
DIRECTIONS = ("up", "down")
PROFILES_DIR = Path(__file__).resolve().parents[1] / "profiles"
_LINK_KEYS = ("all", *LINKS)
_TOP_KEYS = ("name", "description", *_LINK_KEYS, "steps")

End = tuple[str, str]  # (link, direction)
Ends = dict[End, Impairment]


@dataclass(frozen=True)
class Step:
    at_s: float
    ends: Ends  # the full state from `at_s` on


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    source: str
    ends: Ends = field(default_factory=dict)
    steps: tuple[Step, ...] = ()

    def kinds(self) -> dict[End, str | None]:
        return {end: imp.layout for end, imp in self.ends.items()}


def _parse_link(raw: object, source: str, path: str) -> dict[str, Impairment]:
    """→ {"": common, "up": …, "down": …}."""
    if not isinstance(raw, Mapping):
        raise ProfileError(source, path, raw, "a mapping of settings, optionally with up:/down:")
    common = {k: v for k, v in raw.items() if k not in DIRECTIONS}
    parsed = {"": parse_impairment(common, source, path)}
    for direction in DIRECTIONS:
        block = raw.get(direction)
        if block is not None:
            if not isinstance(block, Mapping):
                raise ProfileError(source, f"{path}.{direction}", block, "a mapping of settings")
            parsed[direction] = parse_impairment(block, source, f"{path}.{direction}")
    return parsed


def _resolve(raw: Mapping[str, object], base: Ends, source: str, prefix: str) -> Ends:
    blocks = {name: _parse_link(raw[name], source, prefix + name) for name in _LINK_KEYS if name in raw}
    empty = Impairment()
    ends: Ends = {}
    for link in LINKS:
        for direction in DIRECTIONS:
            imp = base.get((link, direction), empty)
            for name in ("all", link):
                block = blocks.get(name, {})
                imp = merge(merge(imp, block.get("", empty)), block.get(direction, empty))
            ends[(link, direction)] = imp
    return ends


def _check(ends: Ends, source: str, prefix: str) -> None:
    for (link, direction), imp in ends.items():
        for bad in rules.violations(imp):
            raise ProfileError(source, f"{prefix}{link}.{direction}.{bad.key}", bad.value, bad.message)


def _parse_steps(raw: object, base: Ends, source: str) -> tuple[Step, ...]:
    if not isinstance(raw, list):
        raise ProfileError(source, "steps", raw, "a list of {at: 10s, edge/core/all: settings}")
    steps: list[Step] = []
    state, last_s = base, 0.0
    for index, item in enumerate(raw):
        path = f"steps[{index}]"
        if not isinstance(item, Mapping):
            raise ProfileError(source, path, item, "a mapping with at: and edge/core/all")
        for key in item:
            if key not in ("at", *_LINK_KEYS):
                raise ProfileError(source, f"{path}.{key}", item[key],
                                   "unknown key; allowed: at, all, edge, core")
        at_s = units.parse_seconds(item.get("at"))
        if at_s is None or at_s <= last_s:
            raise ProfileError(source, f"{path}.at", item.get("at"),
                               f"a duration after the previous step ({last_s:g}s), e.g. 10s")
        state = _resolve(item, state, source, f"{path}.")
        _check(state, source, f"{path}.")
        for end, imp in state.items():
            if imp.layout != base[end].layout:
                raise ProfileError(source, f"{path}.{end[0]}.{end[1]}", ", ".join(imp.set_keys()) or "none",
                                   f"changes the qdisc from {base[end].layout or 'none'} to "
                                   f"{imp.layout or 'none'}; tc qdisc change cannot switch "
                                   "kinds (set the field, even unimpaired, in the base profile)")
        steps.append(Step(at_s, state))
        last_s = at_s
    return tuple(steps)


def parse_profile(raw: object, source: str, name: str) -> Profile:
    """Validate a loaded YAML document completely; raises ProfileError on the first problem."""
    raw = ProfileError.check_top(raw, _TOP_KEYS, source)
    description = raw.get("description")
    if not isinstance(description, str) or not description.strip():
        raise ProfileError(source, "description", description, "required: one line saying what this models")
    shown = raw.get("name", name)
    if not isinstance(shown, str) or not shown:
        raise ProfileError(source, "name", shown, "a non-empty string")
    ends = _resolve(raw, {}, source, "")
    _check(ends, source, "")
    steps = _parse_steps(raw["steps"], ends, source) if "steps" in raw else ()
    return Profile(shown, description.strip(), source, ends, steps)


def resolve_path(name_or_path: str, profiles_dir: Path = PROFILES_DIR) -> Path:
    """A profile name (`4g`) from `profiles_dir`, or a path to a YAML file."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or "/" in name_or_path:
        return candidate
    path = profiles_dir / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(available(profiles_dir)) or "(none found)"
        raise ProfileError(str(profiles_dir), "profile", name_or_path, f"a known profile: {known}")
    return path


def available(profiles_dir: Path = PROFILES_DIR) -> list[str]:
    return sorted(p.stem for p in profiles_dir.glob("*.yaml"))


def load_profile(name_or_path: str, profiles_dir: Path = PROFILES_DIR) -> Profile:
    path = resolve_path(name_or_path, profiles_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(str(path), "(file)", name_or_path, f"a readable file ({exc.strerror})") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProfileError(str(path), "(yaml)", str(exc).splitlines()[0], "valid YAML") from exc
    return parse_profile(raw, str(path), path.stem)
