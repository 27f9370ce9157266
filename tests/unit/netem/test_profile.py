from pathlib import Path

import pytest

from netem.core.errors import ProfileError
from netem.core.fields import ANY, FIELDS, NETEM, GeModel, Impairment
from netem.core.profile import Profile, available, load_profile, parse_profile


def parse(raw: dict[str, object]) -> Profile:
    return parse_profile({"description": "test", **raw}, "t.yaml", "t")


def error_of(raw: dict[str, object]) -> ProfileError:
    with pytest.raises(ProfileError) as info:
        parse(raw)
    return info.value


def test_resolution_order_all_then_link_then_direction() -> None:
    profile = parse_profile({"description": "x", "all": {"delay": "10ms", "up": {"loss": "1%"}},
                             "edge": {"delay": "20ms", "down": {"rate": "5mbit"}}}, "t.yaml", "t")
    assert profile.ends[("edge", "up")] == Impairment(delay_us=20_000, loss_pct=1.0)
    assert profile.ends[("edge", "down")] == Impairment(delay_us=20_000, rate_bps=5_000_000)
    assert profile.ends[("core", "up")] == Impairment(delay_us=10_000, loss_pct=1.0)
    assert profile.ends[("core", "down")] == Impairment(delay_us=10_000)


def test_gemodel_and_slot_parse() -> None:
    profile = parse_profile({"description": "x", "edge": {
        "delay": "5ms", "gemodel": {"p": "1%", "r": "30%", "1-h": "100%"},
        "slot": {"min": "1ms", "max": "4ms", "packets": 32}}}, "t.yaml", "t")
    imp = profile.ends[("edge", "up")]
    assert imp.gemodel == GeModel(1.0, 30.0, 100.0)
    assert imp.slot is not None and (imp.slot.min_us, imp.slot.max_us, imp.slot.packets) == (1000, 4000, 32)


@pytest.mark.parametrize(("raw", "key", "words"), [
    ({"edge": {"delya": "10ms"}}, "edge.delya", "unknown key; allowed: delay, jitter"),
    ({"edge": {"delay": 40}}, "edge.delay", "with a unit"),
    ({"edge": {"loss": "0.5"}}, "edge.loss", "with a % sign"),
    ({"edge": {"rate": "20mbps"}}, "edge.rate", "bits per second"),
    ({"edge": {"delay": "1ms", "jitter": "1ms", "distribution": "gauss"}}, "edge.distribution", "normal"),
    ({"edge": {"jitter": "5ms"}}, "edge.up.jitter", "jitter needs delay"),
    ({"edge": {"delay": "5ms", "distribution": "normal"}}, "edge.up.distribution", "needs delay and jitter"),
    ({"edge": {"reorder": "5%"}}, "edge.up.reorder", "reordering not possible without"),
    ({"edge": {"delay": "5ms", "gap": 5}}, "edge.up.gap", "gap specified without reorder"),
    ({"edge": {"loss": "1%", "gemodel": {"p": "1%"}}}, "edge.up.gemodel", "exclusive"),
    ({"edge": {"gemodel": {"p": "1%", "1-h": "50%"}}}, "edge.up.gemodel.1-h", "needs r"),
    ({"edge": {"gemodel": {"r": "1%"}}}, "edge.gemodel.p", "required"),
    ({"edge": {"packet_overhead": 20}}, "edge.up.packet_overhead", "needs rate"),
    ({"edge": {"rate": "5mbit", "packet_overhead": -4}}, "edge.up.packet_overhead", "tbf"),
    ({"edge": {"limit": 100}}, "edge.up.limit", "limit alone"),
    ({"edge": {"up": "fast"}}, "edge.up", "a mapping"),
    ({"wan": {}}, "wan", "unknown key; allowed: name, description"),
    ({"steps": [{"at": "0s", "edge": {"rate": "1mbit"}}]}, "steps[0].at", "after the previous step"),
    ({"edge": {"rate": "1mbit"}, "steps": [{"at": "1s", "edge": {"delay": "1ms"}}]},
     "steps[0].edge.up", "cannot switch kinds"),
])
def test_errors_name_key_value_and_what_is_allowed(raw: dict[str, object], key: str, words: str) -> None:
    error = error_of(raw)
    assert error.source == "t.yaml"
    assert error.key == key
    assert words in str(error)
    assert str(error).startswith(f"t.yaml: {key}: invalid value")


def test_description_required() -> None:
    with pytest.raises(ProfileError, match="description"):
        parse_profile({"edge": {}}, "t.yaml", "t")


def test_steps_are_cumulative() -> None:
    profile = parse({"edge": {"rate": "20mbit", "limit": 100},
                     "steps": [{"at": "10s", "edge": {"rate": "5mbit"}},
                               {"at": "20s", "edge": {"up": {"limit": 50}}}]})
    assert [s.at_s for s in profile.steps] == [10.0, 20.0]
    assert profile.steps[1].ends[("edge", "up")] == Impairment(rate_bps=5_000_000, limit=50)
    assert profile.steps[1].ends[("edge", "down")] == Impairment(rate_bps=5_000_000, limit=100)
    assert profile.steps[1].ends[("core", "down")] == Impairment()


def test_shipped_profiles_all_load_with_description() -> None:
    names = available()
    for required in ("none", "lan", "wifi", "4g", "3g", "satellite", "lossy", "congested", "bufferbloat",
                     "rate-10mbit"):
        assert required in names
    for name in names:
        profile = load_profile(name)
        assert profile.description
        assert "# Source:" in Path(profile.source).read_text()


def test_rate_only_profile_needs_no_netem() -> None:
    kinds = load_profile("rate-10mbit").kinds()
    assert set(kinds.values()) <= {"tbf", None}


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r"a known profile: .*4g"):
        load_profile("no-such-profile")
    bad = tmp_path / "bad.yaml"
    bad.write_text("edge: [unclosed\n")
    with pytest.raises(ProfileError, match="valid YAML"):
        load_profile(str(bad))


def needs_of(key: str) -> list[str]:
    """The fields `key` needs, directly and through them (`gap` → reorder → delay), from the table."""
    chain, row = [], FIELDS[key]
    while row.needs is not None:
        chain.append(row.needs.key)
        row = FIELDS[row.needs.key]
    return chain


@pytest.mark.parametrize("key", list(FIELDS))
def test_each_field_row_carries_its_qdisc_kind(key: str) -> None:
    # only rate, packet_overhead and limit work with tbf (kernels without sch_netem); the rest need netem
    assert FIELDS[key].qdisc == (ANY if key in ("rate", "packet_overhead", "limit") else NETEM)
    settings: dict[str, object] = {"rate": "1mbit", key: SAMPLE.get(key, "1ms")}
    settings.update({dep: SAMPLE[dep] for dep in needs_of(key)})
    end = parse({"edge": {"up": settings}}).ends[("edge", "up")]
    assert end.kind == ("tbf" if FIELDS[key].qdisc == ANY else "netem")
    assert end.netem_keys() == [k for k in end.set_keys() if FIELDS[k].qdisc == NETEM]


@pytest.mark.parametrize("key", [key for key, row in FIELDS.items() if row.needs])
def test_each_fields_needs_is_enforced_with_its_rows_words(key: str) -> None:
    row = FIELDS[key]
    assert row.needs is not None
    settings = {dep: SAMPLE[dep] for dep in needs_of(key)[1:]}
    error = error_of({"edge": {"up": {**settings, key: SAMPLE[key]}}})
    assert (error.key, str(error).endswith(row.needs.message)) == (f"edge.up.{key}", True)
    if row.needs.nonzero:
        zero = error_of({"edge": {"up": {**settings, row.needs.key: "0ms", key: SAMPLE[key]}}})
        assert zero.key == f"edge.up.{key}"


SAMPLE: dict[str, object] = {
    "delay": "10ms", "jitter": "1ms", "correlation": "10%", "distribution": "normal", "loss": "1%",
    "loss_correlation": "10%", "gemodel": {"p": "1%"}, "duplicate": "1%", "duplicate_correlation": "1%",
    "corrupt": "1%", "corrupt_correlation": "1%", "reorder": "1%", "reorder_correlation": "1%", "gap": 5,
    "rate": "1mbit", "packet_overhead": 20, "limit": 100, "slot": {"min": "1ms"},
    "queue": {"kind": "fq_codel", "target": "5ms"}}
