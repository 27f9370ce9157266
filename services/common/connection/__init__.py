"""One HTTP/1.1 connection core for every service that answers requests (the server, the proxy's client side).

- `state`: the sans-IO lifecycle of one connection — which request is arriving since when, whether an answer
  is under way, keep-alive, draining, the lingering close, and which deadline has passed (`Timeouts` as data,
  `now` passed in).
- `heads`: status lines, the `Connection` field and `100 Continue`, built once.
- `flow`: write-side back-pressure and the send timeout's progress measure (TCP_INFO).
- `lifecycle`: the registry of live connections, the timeout sweeper and the graceful drain.
- `protocol`: `HttpConnection`, the asyncio shell that carries out what `state` decides; a service's
  Protocol subclasses it and only turns requests into answers.
"""
