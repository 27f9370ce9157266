"""Cookies through the proxy on real sockets (issue 25): the origin gives every request its own session
cookie; no client may receive another client's unless `--set-cookie store` is chosen. The pure rules and
each mode's table are in tests/unit/proxy/test_cookies.py."""

from __future__ import annotations

import asyncio

import pytest

from services.proxy.cache.cookies import CookieRequests, CookieRules, SetCookie
from services.proxy.server import ProxyServer

from .harness import Origin, Reply, get
from .test_http_proxy import run

MODES = {mode.value: CookieRules(set_cookie=mode) for mode in SetCookie}


@pytest.mark.parametrize("cache_control",
                         ["public, max-age=60", "s-maxage=60", 'max-age=60, no-cache="Set-Cookie"'])
@pytest.mark.parametrize("mode", ["pass", "strip", "store"])
def test_two_clients(cache_control: str, mode: str) -> None:
    async def scenario(origin: Origin, proxy: ProxyServer, port: int) -> None:
        origin.routes["/p"] = Reply(headers=[("Cache-Control", cache_control)], body=b"page",
                                    session_cookie=True)
        alice, bob = await get(port, "/p"), await get(port, "/p")
        assert (alice.headers.get("x-cache"), alice.headers.get("set-cookie")) == ("MISS", "session=1")
        stored = mode != "pass" or "no-cache=" in cache_control
        replayed = mode == "store" and "no-cache=" not in cache_control
        assert bob.body == b"page" and bob.headers.get("x-cache") == ("HIT" if stored else "MISS")
        assert bob.headers.get("set-cookie") == ("session=1" if replayed else None if stored else "session=2")
        assert origin.counts["/p"] == (1 if stored else 2)

    run(scenario, cookies=MODES[mode])


@pytest.mark.parametrize("mode", ["pass", "strip"])
def test_concurrent_clients_collapsed_onto_one_miss_get_no_one_elses_cookie(mode: str) -> None:
    async def scenario(origin: Origin, proxy: ProxyServer, port: int) -> None:
        origin.routes["/p"] = Reply(headers=[("Cache-Control", "public, max-age=60")], body=b"page",
                                    delay_s=0.2, session_cookie=True)
        answers = await asyncio.gather(*(get(port, "/p") for _ in range(10)))
        cookies = [a.headers.get("set-cookie") for a in answers]
        given = [c for c in cookies if c is not None]
        assert all(a.status == 200 and a.body == b"page" for a in answers)
        assert len(given) == len(set(given)) == origin.counts["/p"]  # each cookie reached one client
        assert len(given) == (10 if mode == "pass" else 1)

    run(scenario, cookies=MODES[mode])


@pytest.mark.parametrize(("requests", "cached"),
                         [(CookieRequests.CACHE, True), (CookieRequests.BYPASS, False)])
def test_requests_that_carry_a_cookie(requests: CookieRequests, cached: bool) -> None:
    async def scenario(origin: Origin, proxy: ProxyServer, port: int) -> None:
        origin.routes["/p"] = Reply(body=b"page")
        await get(port, "/p")
        with_cookie = await get(port, "/p", "Cookie: session=1")
        assert with_cookie.headers.get("x-cache") == ("HIT" if cached else "MISS")
        assert (await get(port, "/q", "Cookie: session=1")).status == 404
        assert origin.counts["/p"] == (1 if cached else 2)

    run(scenario, cookies=CookieRules(requests=requests))
