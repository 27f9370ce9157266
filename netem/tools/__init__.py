"""Stand-alone tools, each usable on its own (`python -m netem.tools.NAME`): the sch_netem probe
(`capability`), the bulk TCP transfer (`bulk`), the pcap reader (`pcap`), the Debian mirror
(`aptsources`) and stopping a child process (`process`). Imports only `netem.core.errors`.
"""
