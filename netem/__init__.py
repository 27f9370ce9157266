"""qoslab netem: link impairment profiles, the tc argv builder, and the backends that apply them.

Pipeline: `core.profile` (strict schema) → `core.tc` (pure argv builder) → `core.engine` (runs argv
through a `Runner`, reads back with `core.tc_show`, rolls back on failure). Packages by role, imports one
way: `core` (pure) ← `tools` (stand-alone), `backends` (`local` subprocess/namespaces, `docker_backend`,
`swarm`) ← `commands` (`python -m netem`, container start, scenarios, captures) ← `vm` (`host`, `guest`).
`topology` is the one copy of the testbed's topology. docs/CONTRIBUTING.md has the map.
"""
