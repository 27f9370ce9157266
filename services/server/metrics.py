"""`/metrics` of the server: its `Stats` counters in the Prometheus text format (one worker's counters)."""

from __future__ import annotations

from services.common.metrics import Family, counter, gauge, labelled, render

from .stats import Stats

PATH = "/metrics"


def families(stats: Stats, now_wall_s: float) -> list[Family]:
    p = "qoslab_server_"
    return [
        labelled(p + "http_requests_total", "counter", "HTTP responses sent, by status.", "status",
                 ((str(code), n) for code, n in sorted(stats.responses.items()))),
        counter(p + "http_response_bytes_total", "Bytes of HTTP responses sent (head and body).",
                stats.bytes_sent),
        counter(p + "http_connections_total", "TCP connections accepted.", stats.connections_total),
        gauge(p + "http_connections_open", "TCP connections open now.", stats.connections_open),
        counter(p + "http_parse_errors_total", "Requests refused as malformed.", stats.parse_errors),
        labelled(p + "http_timeouts_total", "counter", "Connections closed by a timeout, by kind.", "kind",
                 (("header", stats.timeouts_header), ("idle", stats.timeouts_idle),
                  ("send", stats.timeouts_send))),
        counter(p + "http_internal_errors_total", "Requests that failed inside the server.",
                stats.internal_errors),
        counter(p + "http_uploads_total", "Uploads the sink read to the end.", stats.uploads),
        counter(p + "http_upload_bytes_total", "Request body bytes the upload sink read.",
                stats.upload_bytes),
        counter(p + "udp_datagrams_total", "UDP datagrams received by the echo.", stats.udp_datagrams),
        counter(p + "udp_probes_total", "QoS probes among them (stamped and echoed).", stats.udp_probes),
        counter(p + "udp_bytes_total", "Bytes of UDP datagrams received.", stats.udp_bytes),
        counter(p + "udp_dropped_total", "UDP datagrams not echoed (send buffer full).", stats.udp_dropped),
        counter(p + "udp_errors_total", "UDP socket errors.", stats.udp_errors),
        gauge(p + "uptime_seconds", "Seconds since the server started.",
              round(now_wall_s - stats.started_wall_s, 3)),
    ]


def exposition(stats: Stats, now_wall_s: float) -> bytes:
    return render(families(stats, now_wall_s))
