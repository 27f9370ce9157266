"""Schema errors name what was invalid: a profile is a ProfileError, a scenario a ScenarioError."""

from __future__ import annotations

from pathlib import Path

import pytest

from netem.commands.cli import main
from netem.core.errors import NetemError, ProfileError, ScenarioError, SchemaError


def test_both_share_the_schema_base_with_structured_fields() -> None:
    for cls, what in ((ProfileError, "profile"), (ScenarioError, "scenario")):
        exc = cls("f.yaml", "repetitions", 0, "a whole number 1-1000")
        assert isinstance(exc, SchemaError) and isinstance(exc, NetemError)
        assert (exc.source, exc.key, exc.value, exc.what) == ("f.yaml", "repetitions", 0, what)
        assert str(exc) == "f.yaml: repetitions: invalid value 0: a whole number 1-1000"
    assert not issubclass(ScenarioError, ProfileError)


def test_cli_says_which_file_kind_is_invalid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "s.yaml"
    bad.write_text("profiles: [none]\nrepetitions: 0\n")
    assert main(["scenario", "run", str(bad)]) == 2
    assert capsys.readouterr().err.startswith(f"invalid scenario: {bad}: repetitions:")
    bad.write_text("profiles: [nope]\n")
    assert main(["scenario", "run", str(bad)]) == 2
    assert capsys.readouterr().err.startswith("invalid profile: ")
