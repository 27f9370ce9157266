"""`python -m services.common.healthcheck URL`: exit 0 if URL answers 200 within the timeout.

Used by the compose healthchecks; the images have no curl or wget.
"""

from __future__ import annotations

import argparse
import http.client
import sys
import urllib.parse


def check(url: str, timeout_s: float) -> tuple[bool, str]:
    """GET `url` once; (healthy, what happened)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return False, f"unsupported URL {url!r} (expected http://HOST:PORT/PATH)"
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout_s)
    try:
        conn.request("GET", parts.path or "/", headers={"Connection": "close"})
        response = conn.getresponse()
        response.read()
        return response.status == 200, f"status {response.status}"
    except OSError as exc:
        return False, f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="healthcheck", description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds (default 2)")
    args = parser.parse_args(argv)
    healthy, detail = check(args.url, args.timeout)
    if not healthy:
        print(f"unhealthy: {detail}", file=sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
