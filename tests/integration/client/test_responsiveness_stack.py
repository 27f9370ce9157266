"""`client responsiveness` against the real server and proxy as processes on 127.0.0.1.

Loopback has no queue to bloat, so this checks the plumbing a user relies on: every phase moves data in
its directions (and only those), all three latency kinds are measured, the rows land in the CSV with
the documented columns, and the saved series plots.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from services.client import cli, results
from services.client.responsiveness import series
from tests.integration.processes import running

PHASES = "idle,download,upload,both"


def _addr(address: tuple[str, int]) -> str:
    return f"{address[0]}:{address[1]}"


@pytest.fixture
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    root = tmp_path_factory.mktemp("www")
    (root / "small.html").write_text("<p>small</p>\n")
    (root / "big.bin").write_bytes(bytes(4 << 20))
    with ExitStack() as stop:
        server = stop.enter_context(running("services.server", "--bind", "127.0.0.1", "--http-port", "0",
                                            "--udp-port", "0", "--root", str(root), "--no-access-log"))
        proxy = stop.enter_context(running("services.proxy", "--bind", "127.0.0.1", "--http-port", "0",
                                           "--udp-port", "0", "--upstream", _addr(server.http),
                                           "--upstream-udp", _addr(server.udp), "--no-access-log"))
        yield {"proxy_http": _addr(proxy.http), "proxy_udp": _addr(proxy.udp)}


def test_phases_rows_and_series(stack: dict[str, str], tmp_path: Path) -> None:
    csv_path, saved = tmp_path / "q.csv", tmp_path / "run.json"
    base = f"http://{stack['proxy_http']}"
    code = cli.main(["responsiveness", "--proxy", "none", "--target", stack["proxy_udp"],
                     "--download-url", f"{base}/big.bin", "--upload-url", f"{base}/_server/sink",
                     "--probe-url", f"{base}/small.html", "--phases", PHASES, "--idle-time", "2s",
                     "--load-time", "3s", "--gap", "0.5s", "--window", "2s", "--flows-down", "2",
                     "--csv", str(csv_path), "--series", str(saved), "--label", "loopback"])
    rows = results.read_rows(csv_path)
    assert code == 0, [r["error"] for r in rows]
    assert [r["phase"] for r in rows] == ["idle", "download", "upload", "both", "all"]
    assert {r["kind"] for r in rows} == {"responsiveness"}
    idle, download, upload, both, summary = rows
    assert idle["throughput_down_bps"] == "" and float(idle["rtt_median_ms"]) > 0
    assert float(idle["rpm_foreign"]) > 0 and idle["rpm_self"] == ""
    assert float(download["throughput_down_bps"]) > 1e6 and download["throughput_up_bps"] == ""
    assert int(download["self_probes"]) > 0 and int(download["foreign_probes"]) > 0
    assert float(download["rpm"]) > 0 and download["bufferbloat_grade"] != ""
    assert download["flows_down"] == "2" and download["flows_up"] == "0"
    assert upload["throughput_down_bps"] == "" and float(upload["throughput_up_bps"]) > 1e6
    assert float(both["throughput_down_bps"]) > 1e6 and float(both["throughput_up_bps"]) > 1e6
    assert (upload["flows_down"], upload["flows_up"], both["flows_up"]) == ("0", "4", "4")
    assert int(upload["self_probes"]) > 0 and summary["errors_by_kind"] == ""  # the sink took every upload
    assert summary["bufferbloat_grade"] != "" and float(summary["idle_rtt_median_ms"]) > 0
    data = series.load(saved)
    assert data["label"] == "loopback" and len(data["udp"]) > 100 and data["self"]
    assert [r["phase"] for r in data["rows"]] == ["idle", "download", "upload", "both", "all"]
    assert cli.main(["plot", str(saved), "--out", str(tmp_path / "plots")]) == 0
    assert (tmp_path / "plots" / "responsiveness-loopback.png").stat().st_size > 10_000


def test_an_unreachable_target_fails_clearly(tmp_path: Path) -> None:
    csv_path = tmp_path / "q.csv"
    code = cli.main(["responsiveness", "--proxy", "none", "--target", "127.0.0.1:9",
                     "--download-url", "http://127.0.0.1:9/big.bin", "--upload-url", "http://127.0.0.1:9/s",
                     "--probe-url", "http://127.0.0.1:9/small.html", "--phases", "download",
                     "--load-time", "1s", "--window", "1s", "--ready-timeout", "0", "--csv", str(csv_path)])
    rows = results.read_rows(csv_path)
    assert code == 1
    download, summary = rows
    assert download["ok"] == "0" and "no download throughput" in download["error"]
    assert summary["ok"] == "0" and summary["errors_by_kind"].startswith("connect=")
    assert int(summary["load_errors"]) >= 4  # every flow tried, and was retried while the phase lasted
