#!/bin/sh
# Container start: apply the netem profile as root (NET_ADMIN), then run the service as a non-root user.
#
# NETEM_PROFILE  profile name (netem/profiles/NAME.yaml) or path; empty or "none" leaves links alone.
#                If it cannot be applied, the container stops with the reason: never a silent
#                unimpaired run.
# QOSLAB_UID/GID user to run the service as (default 10001). If QOSLAB_RESULTS_DIR is a bind mount
#                owned by a non-root user, the service runs as that user so files it writes on the host
#                belong to whoever owns the directory.
set -eu

log() { printf 'ts=%s svc=%s event=entrypoint.%s\n' "$(date -u +%Y-%m-%dT%H:%M:%S.000Z)" \
  "${QOSLAB_SERVICE:-qoslab}" "$*"; }

if [ "$(id -u)" != 0 ]; then
  exec "$@"
fi

if ! python3 -m netem.commands.startup; then
  log "failed reason=netem_profile_not_applied profile=${NETEM_PROFILE:-}"
  exit 78
fi
# The profile the start-up step followed (the controller's, when it applied one after the stack started)
# and the client's condition in a client mix: the client's rows name them.
netem_env=${NETEM_ENV_FILE:-/tmp/qoslab-netem.env}
if [ -f "$netem_env" ]; then
  . "$netem_env"
  export CLIENT_PROFILE CLIENT_CONDITION
fi

uid=${QOSLAB_UID:-10001}
gid=${QOSLAB_GID:-10001}
results=${QOSLAB_RESULTS_DIR:-}
if [ -n "$results" ] && [ -d "$results" ]; then
  owner=$(stat -c %u "$results")
  if [ "$owner" != 0 ]; then
    uid=$owner
    gid=$(stat -c %g "$results")
  else
    # A root-owned directory (the host user is root): hand it and its CSV files to the service user.
    chown "$uid:$gid" "$results"
    find "$results" -maxdepth 1 -type f -user 0 -exec chown "$uid:$gid" {} + 2>/dev/null || true
    log "chown dir=$results uid=$uid"
  fi
fi
export HOME=/tmp
log "drop_privileges uid=$uid gid=$gid"
exec setpriv --reuid="$uid" --regid="$gid" --clear-groups --inh-caps=-all --bounding-set=-all \
  --no-new-privs -- "$@"
