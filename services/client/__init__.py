"""The qoslab client: HTTP timing, multi-client load, UDP QoS analyzer, suite, menu and plots."""
