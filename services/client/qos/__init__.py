"""UDP QoS analyzer: paced sender, receive thread, recorder, pure metrics (DESIGN.md section 4)."""
