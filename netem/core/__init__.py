"""The pure core: units, the field table, rules, profiles, the tc argv builder and parser, the apply path.

No Docker, no subprocess, no sockets: the apply path (`engine`) runs argv through an injected `Runner`,
step replay (`steps`) takes its clock and sleep. Imports only `netem.core` and `netem.topology`.
"""
