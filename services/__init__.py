"""qoslab services: web server, caching proxy and QoS client (standard library only)."""
