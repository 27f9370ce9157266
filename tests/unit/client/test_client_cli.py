"""Command line and menu behaviour that needs no network."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from netem import topology
from services.client import cli
from services.client.httpc import resolve_target
from services.client.menu import Menu

PROXY_HTTP = topology.port("proxy", "http")
PROXY, SERVER = topology.named_endpoint("proxy", "http"), topology.named_endpoint("server", "http")


def _menu(script: str) -> tuple[int, str]:
    ns = cli.build_parser().parse_args(["menu", "--csv", ""])
    out = io.StringIO()
    code = Menu(ns, stdin=io.StringIO(script), stdout=out, environ={}).run()
    return code, out.getvalue()


def test_menu_eof_exits_cleanly() -> None:
    assert _menu("")[0] == 0


def test_menu_invalid_choice_reprompts() -> None:
    code, text = _menu("9\nhello\n5\n7\n")
    assert code == 0 and text.count("please answer 1-7") == 2 and f"127.0.0.1:{PROXY_HTTP}" in text


def test_menu_browser_info_lists_every_page_the_browser_test_proves() -> None:
    from services.client.menu import BROWSER_PAGES

    code, text = _menu("5\n7\n")
    assert code == 0 and len(BROWSER_PAGES) == 6
    for path, what in BROWSER_PAGES:
        assert f"http://127.0.0.1:{PROXY_HTTP}{path}" in text and what in text


def test_menu_set_target_reprompts_on_bad_values_then_eof() -> None:
    code, text = _menu("1\nftp://x\nhttp://h:81/a\nnot a port:x\nnone\n127.0.0.1:9\n")
    assert code == 0 and text.count("  invalid:") == 2


def test_menu_qos_bad_numbers_reprompt() -> None:
    code, text = _menu("3\n-1\nabc\n")
    assert code == 0 and text.count("  invalid:") == 2


@pytest.mark.parametrize("argv", [["qos", "--count", "0"], ["qos", "--rate", "fast"], ["nope"],
                                  ["qos", "--wait", "soon"], ["qos", "--same-clock", "maybe"],
                                  ["qos", "--start-at", "noon"], ["qos", "--start-at", "-5"],
                                  ["qos", "--start-at", "99999999999"]])
def test_bad_usage_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([*argv, "--csv", ""]) == 2


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    assert "suite" in capsys.readouterr().out


def test_env_sets_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLIENT_UDP_TARGET", "10.0.0.5:7")
    monkeypatch.setenv("CLIENT_PROFILE", "lte")
    ns = cli.build_parser().parse_args(["qos"])
    assert ns.target == ("10.0.0.5", 7) and ns.profile == "lte"


def test_resolve_target_forms() -> None:
    direct = resolve_target(f"http://{PROXY}/a?b=1", ("proxy", PROXY_HTTP))
    assert (direct.host, direct.port, direct.request_target) == ("proxy", PROXY_HTTP, "/a?b=1")
    forward = resolve_target(f"http://{SERVER}/x", ("proxy", PROXY_HTTP))
    assert (forward.host, forward.request_target, forward.host_header) == (
        "proxy", f"http://{SERVER}/x", SERVER)
    with pytest.raises(ValueError):
        resolve_target("https://x/", None)


def test_report_blocks_never_fail_on_sparse_rows() -> None:
    from services.client import report

    rows: list[dict[str, object]] = [
        {"kind": "qos", "ok": False, "error": "no echo"}, {"kind": "qos", "packets_sent": 3, "ok": True},
        {"kind": "http_miss", "ok": False, "error": "refused"}, {"kind": "load", "ok": True}, {}]
    for row in rows:
        assert report.block(row)
    table = report.summary_table(rows)
    assert len(table) == 2 + len(rows) and "FAILED" in table[2]


def _fake_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """A qos and an http run that measured something, without a network."""
    from services.client import results

    def qos(config: object, ctx: object, **_: object) -> tuple[dict[str, object], list[dict[str, object]]]:
        row = {**results.base_row("qos", "h:1", run_id="r1"), "ok": True, "rtt_p99_ms": 1.25}
        return row, [{"run_id": "r1", "seq": 0, "rtt_ms": 1.0}] if _.get("raw") else []

    def http(url: str, proxy: object, ctx: object, **_: object) -> dict[str, object]:
        return {**results.base_row("http", url, run_id="r1"), "ok": True, "http_status": 200}

    monkeypatch.setattr(cli, "qos_test_raw", qos)
    monkeypatch.setattr(cli, "http_test", http)


def _json_lines(text: str) -> list[dict[str, object]]:
    import json

    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("where", ["dir", "missing_parent_is_a_file", "ok"])
@pytest.mark.parametrize("command", [["qos"], ["http", "http://h/"]])
def test_unwritable_csv_exits_1_and_prints_the_result(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        where: str, command: list[str]) -> None:
    _fake_runs(monkeypatch)
    (tmp_path / "file").write_text("x")
    path = {"dir": tmp_path, "missing_parent_is_a_file": tmp_path / "file" / "new" / "q.csv",
            "ok": tmp_path / "new" / "q.csv"}[where]
    code = cli.main([*command, "--csv", str(path)])
    out, err = capsys.readouterr()
    if where == "ok":
        assert code == 0 and err == "" and path.is_file() and not _json_lines(out)
        return
    assert code == 1 and f"cannot write results to {path}" in err
    rows = _json_lines(out)
    assert len(rows) == 1 and rows[0]["result"]["ok"] is True  # type: ignore[index]


def test_unwritable_raw_exits_1_and_prints_every_probe(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _fake_runs(monkeypatch)
    csv_path = tmp_path / "q.csv"
    code = cli.main(["qos", "--csv", str(csv_path), "--raw", str(tmp_path), "--json"])
    out, err = capsys.readouterr()
    assert code == 1 and f"cannot write results to {tmp_path}" in err and "Traceback" not in err
    lines = _json_lines(out)
    assert [sorted(line) for line in lines] == [["config", "result"], ["raw"]]
    assert lines[1]["raw"] == {"run_id": "r1", "seq": 0, "rtt_ms": 1.0}
    assert len(csv_path.read_text().splitlines()) == 2  # the CSV row was still written


def test_replica_name(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from services.client.options import replica_name

    monkeypatch.setattr(socket, "gethostname", lambda: "abc123def456")
    assert (replica_name(""), replica_name(" lab-a ")) == ("abc123def456", "lab-a")


def test_menu_responsiveness_reprompts_on_bad_numbers_then_eof() -> None:
    code, text = _menu("6\n0\nabc\n5\n99\n")
    assert code == 0 and text.count("invalid") == 3 and "flows each way" in text


def test_responsiveness_flags_are_checked_before_anything_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["responsiveness", "--phases", "idle,sideways", "--csv", ""]) == 2
    assert "phases must be some of" in capsys.readouterr().err
    assert cli.main(["responsiveness", "--flows-down", "17", "--csv", ""]) == 2
    assert cli.main(["responsiveness", "--assert", "rpm>>3", "--csv", ""]) == 2


def test_responsiveness_config_from_flags() -> None:
    from services.client.responsiveness.run import config_from

    ns = cli.build_parser().parse_args(["responsiveness", "--phases", "download,idle", "--load-time", "7s",
                                        "--flows-up", "2", "--no-udp", "--upload-size", "1MiB"])
    config = config_from(ns)
    assert config.phases == ("download", "idle") and config.load_s == 7 and config.flows_up == 2
    assert config.udp_target is None and config.upload_bytes == 1 << 20
    assert [p.name for p in config.plan()] == ["download", "idle"]


def test_menu_browser_info_names_the_ports_compose_published_on_the_host() -> None:
    from services.client.menu import browser_info

    moved = browser_info({"PROXY_PUBLISH_PORT": "18080", "SERVER_PUBLISH_PORT": "18000"})
    assert "http://127.0.0.1:18080/index.html" in moved and "http://127.0.0.1:18000/index.html" in moved
    assert "127.0.0.1:18080 as the browser's HTTP proxy" in moved and f":{PROXY_HTTP}" not in moved
    chosen = browser_info({"PROXY_PUBLISH_PORT": "0"})
    assert "http://127.0.0.1:PORT/_proxy/stats" in chosen
    assert f"docker compose port proxy {PROXY_HTTP}" in chosen
    assert f"http://127.0.0.1:{topology.port('server', 'http')}/index.html" in chosen  # the server's default
    assert browser_info({"PROXY_PUBLISH_PORT": "junk"}) == browser_info({})
    ns = cli.build_parser().parse_args(["menu", "--csv", ""])
    out = io.StringIO()
    Menu(ns, stdin=io.StringIO("5\n7\n"), stdout=out, environ={"PROXY_PUBLISH_PORT": "18080"}).run()
    assert "http://127.0.0.1:18080/index.html" in out.getvalue()  # what option 5 shows in the container


def test_start_at_waits_until_the_instant_and_never_backwards() -> None:
    from services.client.options import MAX_START_AHEAD_S, parse_start_at, start_delay_s

    assert parse_start_at("") is None and parse_start_at(" 1765000000.5 ") == 1765000000.5
    assert start_delay_s(None, 1000.0) == 0.0
    assert start_delay_s(1012.5, 1000.0) == 12.5  # replicas started apart all send from 1012.5
    assert start_delay_s(990.0, 1000.0) == 0.0  # already past: send now
    assert start_delay_s(1000.0 + MAX_START_AHEAD_S, 1000.0) == MAX_START_AHEAD_S
    with pytest.raises(ValueError, match="ahead"):
        start_delay_s(1001.0 + MAX_START_AHEAD_S, 1000.0)  # milliseconds by mistake, or a typo
    for bad in ("nan", "inf", "0", "-1"):
        with pytest.raises(ValueError):
            parse_start_at(bad)
