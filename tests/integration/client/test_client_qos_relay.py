"""The QoS figures through the qoslab UDP relay stay exact. The seeded impairment relay behind the proxy
decides which probes are lost (up, down), duplicated and reordered; the client measures through the
proxy's relay and must report exactly that — at 500 probes/s (one datagram per relay hop) and at
10 000 probes/s (the relay reads backlogs with recvmmsg and forwards them with sendmmsg). The relay's own
counters must agree with what the client saw."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from services.client.qos.analyze import result_columns
from services.client.qos.config import QosConfig
from services.client.qos.runner import run_qos
from tests.integration.client.test_client_qos_impair import expected_from_plan
from tests.integration.processes import internal_json, running

Impaired = Any  # conftest.Impaired: echo_port, relay_port, plan


@pytest.mark.parametrize(("count", "interval_s"), [(400, 0.002), (6000, 0.0001)], ids=["500pps", "10kpps"])
def test_impairments_behind_the_relay_are_reported_exactly(impaired: Callable[..., Impaired], count: int,
                                                           interval_s: float) -> None:
    net = impaired(seed=11, count=count, drop_up=6, drop_down=4, dup=3, reorder=5)
    with running("services.proxy", "--bind", "127.0.0.1", "--http-port", "0", "--udp-port", "0",
                 "--upstream", "127.0.0.1:9", "--upstream-udp", f"127.0.0.1:{net.relay_port}",
                 "--no-access-log") as proxy:
        run = run_qos(QosConfig("127.0.0.1", proxy.udp[1], count=count, interval_s=interval_s, size=100,
                                wait_s=0.5, seed=3))
        row = result_columns(run)
        udp = internal_json(proxy.http, "/_proxy/stats")["udp"]
    sent = row["packets_sent"]
    assert sent + row["missed_sends"] == count and sent > count // 2
    expected = expected_from_plan(net.plan, sent)
    assert {key: row[key] for key in expected} == expected
    assert row["late_packets"] == 0 and row["rejected_packets"] == 0
    # every probe crossed the relay on the way up; every reply the impairment let through came back
    # across it (sent − lost + duplicated), each counted once, none dropped by the relay
    lost = expected["lost_up_packets"] + expected["lost_down_packets"]
    assert udp["packets_up_total"] == sent, udp
    assert udp["packets_down_total"] == sent - lost + expected["duplicate_packets"], udp
    assert udp["dropped"] == 0 and udp["sessions"] == 1
