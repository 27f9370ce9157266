"""Code the three services share: configuration, logging, clocks, probe wire format, HTTP/1.1."""
