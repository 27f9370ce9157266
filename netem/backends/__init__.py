"""Where tc runs: `local` (subprocess, optionally `ip netns exec`), `docker_backend` (the Docker SDK, the
only module that imports it) and `swarm` (the docker CLI on a swarm stack). Each supplies `Runner`s and
targets to `netem.core.engine`; imports `netem.core`, `netem.topology` and `services.common.log`.
"""
