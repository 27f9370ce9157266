"""Stand-alone tools, each usable on its own (`python -m netem.tools.NAME`): the sch_netem probe
(`capability`), the bulk TCP transfer (`bulk`), the pcap reader (`pcap`), the Debian mirror
(`aptsources`), stopping a child process (`process`) and stopping a long-running command on SIGINT or
SIGTERM however it was started (`interrupt`). Imports only `netem.core.errors`.
"""
