# qoslab images, one stage per service: docker build --target server|proxy|client . (compose.yaml sets
# build.target). Build context: the repository root (services/common and netem are shared).
# BASE_IMAGE defaults to python:3.12-slim; without registry access use scripts/offline-base-image.
ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE} AS base

# tc (iproute2) for netem, PyYAML for the start-up profile step, setpriv to drop root after it.
RUN set -eu; \
    if ! command -v tc >/dev/null; then \
      apt-get update && apt-get install -y --no-install-recommends iproute2 && rm -rf /var/lib/apt/lists/*; \
    fi; \
    python3 -c 'import yaml' 2>/dev/null || python3 -m pip install --no-cache-dir pyyaml; \
    command -v setpriv >/dev/null

# Bytecode is compiled once at build time (compileall in each stage) and never written at run time:
# every start, health check and `netem.commands.startup` then skips compiling (seconds under QEMU emulation).
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PYTHONPATH=/app
WORKDIR /app
COPY docker/entrypoint.sh /usr/local/bin/qoslab-entrypoint
COPY netem/ /app/netem/
COPY services/__init__.py /app/services/__init__.py
COPY services/common/ /app/services/common/
RUN python3 -m compileall -q /app/netem /app/services/__init__.py /app/services/common

FROM base AS server
ENV QOSLAB_SERVICE=server
COPY services/server/ /app/services/server/
RUN python3 -m compileall -q /app/services/server
COPY www/ /app/www/
# Large test files are generated at build time, never committed (www/generated is git-ignored).
RUN python3 -m services.server.content /app/www
EXPOSE 8000/tcp 9000/udp
ENTRYPOINT ["qoslab-entrypoint", "python3", "-m", "services.server"]

FROM base AS proxy
ENV QOSLAB_SERVICE=proxy
COPY services/proxy/ /app/services/proxy/
RUN python3 -m compileall -q /app/services/proxy
EXPOSE 8080/tcp 9090/udp
ENTRYPOINT ["qoslab-entrypoint", "python3", "-m", "services.proxy"]

FROM base AS client
ENV QOSLAB_SERVICE=client
COPY services/client/ /app/services/client/
RUN python3 -m compileall -q /app/services/client
ENTRYPOINT ["qoslab-entrypoint", "python3", "-m", "services.client"]

# The netem controller as a container, so a CI job with nothing but Docker can impair any compose
# project: `docker compose run --rm netem apply 3g [--project P --service S [--network N]]` (compose
# mounts the Docker socket). It is also the helper image the controller runs in the network namespace
# of a target that cannot run tc itself. Last stage: building the services never runs its install step.
# The Docker SDK for Python: pip where the base image has it (python:3.12-slim), else Debian's package
# (the offline base); compose builds this stage on the host network.
FROM base AS netem
ENV QOSLAB_SERVICE=netem
# tcpdump: `capture` runs it from this image in the target's network namespace (only Docker needed)
RUN set -eu; \
    packages=""; \
    command -v tcpdump >/dev/null || packages="tcpdump"; \
    if ! python3 -c 'import docker' 2>/dev/null; then \
      if python3 -m pip --version >/dev/null 2>&1; then \
        python3 -m pip install --no-cache-dir 'docker>=5'; \
      else \
        packages="$packages python3-docker"; \
      fi; \
    fi; \
    if [ -n "$packages" ]; then \
      apt-get -o Acquire::Check-Valid-Until=false update && \
      apt-get install -y --no-install-recommends $packages && rm -rf /var/lib/apt/lists/*; \
    fi; \
    python3 -c 'import docker'; command -v tcpdump
ENTRYPOINT ["python3", "-m", "netem"]
CMD ["--help"]

# Headless Chromium for tests/compose/test_browser.py (Debian's package, the same on every runner, whatever
# the host has): `docker run --network host qoslab/browser:dev --headless …`. Not part of the stack, so
# not in compose.yaml: tests/compose/cdp.py builds it (`docker build --target browser`).
FROM ${BASE_IMAGE} AS browser
RUN set -eu; \
    apt-get -o Acquire::Check-Valid-Until=false update && \
    apt-get install -y --no-install-recommends chromium fonts-dejavu-core && rm -rf /var/lib/apt/lists/*; \
    chromium --version
ENTRYPOINT ["chromium"]
