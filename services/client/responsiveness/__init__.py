"""`client responsiveness`: latency under working conditions (draft-ietf-ippm-responsiveness, RRUL).

Pure parts: `rpm` (trimmed means, RPM), `grade` (bufferbloat grade), `stability` (the draft's
confidence), `phases` (the timeline), `tcpinfo` (struct tcp_info), `analyze` (records → rows).
I/O: `engine` (asyncio: bulk flows, UDP probes, foreign probes, TCP_INFO samples), `run`.
"""
