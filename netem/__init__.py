"""qoslab netem: link impairment profiles, the tc argv builder, and the backends that apply them.

Pipeline: `profile` (strict schema) → `tc` (pure argv builder) → `engine` (runs argv through a
`Runner`, reads back with `tc_show`, rolls back on failure). Backends: `local` (subprocess, used at
container start by `startup` and in network namespaces) and `docker_backend` (Docker SDK, the only module
that imports `docker`; its commands are `controller`).
"""
