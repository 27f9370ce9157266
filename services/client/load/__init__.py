"""`load`: HTTP load on keep-alive connections, closed or open loop (`engine`), planned and run by `run`,
reported as one CSV row (`result`)."""
