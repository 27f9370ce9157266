"""UDP QoS analyzer: paced sender + reply collector, recorder, pure metrics (DESIGN.md section 4)."""
