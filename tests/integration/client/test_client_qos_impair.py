"""The analyzer against a relay that drops, duplicates, reorders and delays a known set of probes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from services.client.qos.analyze import result_columns
from services.client.qos.config import QosConfig
from services.client.qos.runner import run_qos

Impaired = Any  # conftest.Impaired: echo_port, relay_port, plan
COUNT = 400
DELAY_MS = 20.0


def expected_from_plan(plan: dict[str, list[int]], sent: int) -> dict[str, int]:
    """What the relay did to the probes actually sent (a loaded machine may skip late slots)."""
    held_forever = [k for k in plan["reorder"] if k < sent <= k + 1]
    return {
        "lost_up_packets": sum(s < sent for s in plan["drop_up"]) + len(held_forever),
        "lost_down_packets": sum(s < sent for s in plan["drop_down"]),
        "duplicate_packets": sum(s < sent for s in plan["dup"]),
        "reordered_packets": sum(k + 1 < sent for k in plan["reorder"]),
    }


def test_injected_impairments_are_reported_exactly(impaired: Callable[..., Impaired]) -> None:
    net = impaired(seed=7, count=COUNT, drop_up=6, drop_down=4, dup=3, reorder=5, delay_ms=DELAY_MS)
    run = run_qos(QosConfig("127.0.0.1", net.relay_port, count=COUNT, interval_s=0.002, size=100,
                            wait_s=0.5, seed=1))
    row = result_columns(run)
    sent = row["packets_sent"]
    assert sent + row["missed_sends"] == COUNT and sent > COUNT // 2
    expected = expected_from_plan(net.plan, sent)
    assert {key: row[key] for key in expected} == expected
    lost = expected["lost_up_packets"] + expected["lost_down_packets"]
    assert row["lost_packets"] == lost and row["loss_pct"] == pytest.approx(100 * lost / sent)
    assert row["late_packets"] == 0 and row["rejected_packets"] == 0
    assert abs(row["owd_up_median_ms"] - DELAY_MS) < 1.0
    assert abs(row["rtt_median_ms"] - DELAY_MS) < 1.0
    assert row["owd_down_median_ms"] < 1.0 and row["owd_same_clock"] is True


def test_clean_path_loses_nothing(impaired: Callable[..., Impaired]) -> None:
    net = impaired(seed=1, count=10)
    run = run_qos(QosConfig("127.0.0.1", net.echo_port, count=500, interval_s=0.0005, size=200, seed=2))
    row = result_columns(run)
    assert row["lost_packets"] == 0 and row["duplicate_packets"] == 0 and row["reordered_packets"] == 0
    assert row["rtt_median_ms"] < 1.0 and row["kernel_timestamps"] is True
    assert 0 < row["offered_pps"] <= 2000 * 1.05  # never faster than asked (no catch-up bursts)
