"""qoslab caching HTTP/1.1 proxy (reverse or forward, RFC 9111 shared cache) and UDP relay."""
