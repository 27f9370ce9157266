"""Vary variants through the proxy (issue 25): under a flood of one-off values of a varying header, the
value clients ask for again stays cached while the one-off ones leave; the per-URL bound holds. The
store's own table is tests/unit/proxy/test_store_variants.py."""

from __future__ import annotations

import json

from services.proxy.server import ProxyServer

from .harness import Origin, Reply, get
from .test_http_proxy import run


def test_the_value_asked_for_again_stays_cached_under_a_flood_of_one_off_values() -> None:
    async def scenario(origin: Origin, proxy: ProxyServer, port: int) -> None:
        origin.routes["/v"] = Reply(headers=[("Cache-Control", "max-age=600"), ("Vary", "X-K")],
                                    body=b"v" * 1024)
        hot: list[str | None] = []
        for i in range(300):  # "hot" every 12 requests: with 8 slots, plain LRU dropped it before each return
            value = "hot" if i % 12 == 0 else f"once-{i}"
            answer = await get(port, "/v", f"X-K: {value}")
            assert answer.status == 200 and answer.body == b"v" * 1024
            if value == "hot":
                hot.append(answer.headers.get("x-cache"))
        assert hot[:2] == ["MISS", "MISS"] and set(hot[2:]) == {"HIT"}
        stats = json.loads((await get(port, "/_proxy/stats")).body)
        assert stats["entries"] == 8 and stats["variant_evictions"] == 300 - (len(hot) - 2) - 8
        assert origin.counts["/v"] == 300 - (len(hot) - 2)

    run(scenario, max_variants=8, cache_size=1 << 20)
