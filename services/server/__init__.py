"""The qoslab origin: an HTTP/1.1 static file server and a UDP echo (standard library only)."""
