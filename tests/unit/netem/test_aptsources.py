"""The Debian mirror comes from the host's apt sources (deb822 and one-line), or the override."""

from __future__ import annotations

from pathlib import Path

import pytest

from netem.tools import aptsources
from netem.tools.aptsources import MirrorError, Source, debian_mirror

DEB822 = """\
Types: deb
# a comment
URIs: http://mirror.example/debian/
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
"""

ONE_LINE = """\
# deb http://commented.example/debian bookworm main
deb [arch=amd64 signed-by=/k.gpg] http://lines.example/debian bookworm main contrib
deb-src http://src.example/debian bookworm main
deb http://lines.example/debian-security bookworm-security main
"""


def apt_dir(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_deb822_entries() -> None:
    assert aptsources.parse_deb822(DEB822) == [
        Source("http://mirror.example/debian", ("bookworm", "bookworm-updates")),
        Source("http://mirror.example/debian-security", ("bookworm-security",))]


def test_deb822_skips_disabled_and_source_only_stanzas() -> None:
    text = ("Types: deb-src\nURIs: http://a.example/debian\nSuites: bookworm\n\n"
            "Types: deb\nEnabled: no\nURIs: http://b.example/debian\nSuites: bookworm\n\n"
            "Types: deb\nURIs: cdrom:/x http://c.example/debian\n  http://d.example/debian\n"
            "Suites: bookworm\n")
    assert aptsources.parse_deb822(text) == [Source("http://c.example/debian", ("bookworm",))]


def test_one_line_entries_skip_options_comments_and_deb_src() -> None:
    assert aptsources.parse_one_line(ONE_LINE) == [
        Source("http://lines.example/debian", ("bookworm",)),
        Source("http://lines.example/debian-security", ("bookworm-security",))]


def test_the_wanted_suite_wins_then_a_main_suite() -> None:
    sources = [Source("http://sec.example/debian-security", ("bookworm-security",)),
               Source("http://old.example/debian", ("bullseye",)),
               Source("http://new.example/debian", ("bookworm",))]
    assert aptsources.choose(sources, "bookworm") == "http://new.example/debian"
    assert aptsources.choose(sources, "trixie") == "http://old.example/debian"
    assert aptsources.choose(sources[:1], "trixie") is None


def test_deb822_file_before_sources_list(tmp_path: Path) -> None:
    root = apt_dir(tmp_path, {"sources.list.d/debian.sources": DEB822, "sources.list": ONE_LINE,
                              "sources.list.d/old.sources.disabled": "Types: deb\nURIs: http://x.example\n"})
    assert debian_mirror({}, "MIRROR", "bookworm", root) == "http://mirror.example/debian"


def test_sources_list_alone(tmp_path: Path) -> None:
    root = apt_dir(tmp_path, {"sources.list": ONE_LINE})
    assert debian_mirror({}, "MIRROR", "bookworm", root) == "http://lines.example/debian"


def test_environment_override_wins(tmp_path: Path) -> None:
    root = apt_dir(tmp_path, {"sources.list": ONE_LINE})
    assert debian_mirror({"MIRROR": "http://local.example/d"}, "MIRROR", "bookworm", root) == \
        "http://local.example/d"


def test_no_sources_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(MirrorError, match="set MIRROR=URI"):
        debian_mirror({}, "MIRROR", "bookworm", tmp_path)
    assert aptsources.main([], {}, tmp_path) == 1
    assert "set QOSLAB_DEBIAN_MIRROR=URI" in capsys.readouterr().err
    assert aptsources.main(["--env", "M"], {"M": "http://local.example/d"}, tmp_path) == 0
    assert capsys.readouterr().out == "http://local.example/d\n"


def test_the_tree_names_no_package_host() -> None:
    repo = Path(__file__).resolve().parents[3]
    # spelt in parts, so this file does not name them either
    hosts = [".".join(parts) for parts in (("deb", "debian", "org"), ("security", "debian", "org"),
                                           ("pypi", "org"), ("files", "pythonhosted", "org"),
                                           ("registry", "npmjs", "org"), ("archive", "ubuntu", "com"))]
    skip = {".git", ".mypy_cache", ".ruff_cache", ".pytest_cache", "__pycache__", "results", "node_modules",
            ".venv", ".hypothesis"}  # a newcomer's venv (README) holds pip, which names its index
    offenders = [str(path.relative_to(repo)) for path in repo.rglob("*")
                 if path.is_file() and not skip & set(path.relative_to(repo).parts)
                 and any(h.encode() in path.read_bytes() for h in hosts)]
    assert offenders == []
