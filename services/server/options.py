"""The server's settings, each declared once: flag, environment variable, default, help, parser.

`cli.py` turns the table into the command line; `app.ServerConfig` takes its field defaults from it.
"""

from __future__ import annotations

from pathlib import Path

from services.common.config import Option, parse_duration_s, parse_port, parse_size, parse_worker_count
from services.common.listen import valid_bind

from .rules import DEFAULT_RULES, parse_rules

DEFAULT_ROOT = str(Path(__file__).resolve().parents[2] / "www")


OPTIONS = [
    Option("--bind", "SERVER_BIND", "any",
           "addresses to listen on (HTTP and UDP): any (IPv4 and IPv6, IPv6 skipped where the host has "
           "none) or ADDR[,ADDR…], e.g. 127.0.0.1,::1", valid_bind),
    Option("--http-port", "SERVER_HTTP_PORT", "8000", "HTTP port (0 = pick a free one)", parse_port),
    Option("--udp-port", "SERVER_UDP_PORT", "9000", "UDP echo port (0 = pick a free one)", parse_port),
    Option("--udp-buffer", "SERVER_UDP_BUFFER", "4MiB",
           "UDP echo socket buffers (the kernel caps them at net.core.rmem_max/wmem_max)", parse_size),
    Option("--root", "SERVER_ROOT", DEFAULT_ROOT, "document root"),
    Option("--max-age", "SERVER_MAX_AGE", "60", "Cache-Control max-age for paths no rule matches (-1: none)",
           int),
    Option("--cache-rules", "SERVER_CACHE_RULES", DEFAULT_RULES,
           "Cache-Control per path glob, first match wins: '/pat/*=value;/other=none'", parse_rules),
    Option("--listing", "SERVER_LISTING", "false", "HTML listing for directories without index.html",
           is_switch=True),
    Option("--header-timeout", "SERVER_HEADER_TIMEOUT", "10s", "time to receive a request head (408)",
           parse_duration_s),
    Option("--idle-timeout", "SERVER_IDLE_TIMEOUT", "15s", "keep-alive idle timeout", parse_duration_s),
    Option("--send-timeout", "SERVER_SEND_TIMEOUT", "60s",
           "abort a client that receives nothing of its response this long (sendfile included)",
           parse_duration_s),
    Option("--shutdown-timeout", "SERVER_SHUTDOWN_TIMEOUT", "5s",
           "on SIGTERM, wait this long for in-flight responses", parse_duration_s),
    Option("--max-body", "SERVER_MAX_BODY", "1MiB", "largest request body drained (413 above)", parse_size),
    Option("--sink-max", "SERVER_SINK_MAX", "1GiB",
           "largest upload POST/PUT /_server/sink reads and counts (413 above)", parse_size),
    Option("--sink-min-rate", "SERVER_SINK_MIN_RATE", "8000",
           "uploads slower than this many bit/s after 5 s are refused (408)", float),
    Option("--small-file-max", "SERVER_SMALL_FILE_MAX", "256KiB",
           "files up to this size are served from memory; larger ones with sendfile", parse_size),
    Option("--cache-budget", "SERVER_CACHE_BUDGET", "64MiB", "memory for cached small files", parse_size),
    Option("--file-ttl", "SERVER_FILE_TTL", "1s", "re-check a cached file's stat after this long",
           parse_duration_s),
    Option("--workers", "SERVER_WORKERS", "1",
           "HTTP worker processes, each with its own SO_REUSEPORT socket on the port (0 = one per CPU core; "
           "stats are per worker)", parse_worker_count),
    Option("--access-log", "SERVER_ACCESS_LOG", "true", "one log line per request", is_switch=True),
]
