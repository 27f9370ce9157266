"""What `python -m netem` does: the CLI, the controller's apply/show/clear, container start, scenarios,
captures, the calibration burst and the scenario report. Imports `netem.core`, `netem.backends`,
`netem.tools` and `netem.topology`.
"""
