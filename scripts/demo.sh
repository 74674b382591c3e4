#!/usr/bin/env bash
# `make demo`: the local two-account drill. Runs on its own sandbox (own port, own state
# dir), so a sandbox started by hand with `make sandbox-up` is left alone, and stops it on
# any exit so no process is left behind.
# Grows with each flow: replication, reconcile, snapshots, failover, drill.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DRCTL:?set by make demo}" "${CONFIG:?set by make demo}"

export DRCTL_CONFIG="$CONFIG"
export DRCTL_SANDBOX_DIR=.sandbox/demo
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export DRCTL__SANDBOX__ENDPOINT="http://127.0.0.1:${port}"

step() { printf '\n== %s\n' "$*"; }
cleanup() { step "stop the sandbox"; "$DRCTL" sandbox down; }
trap cleanup EXIT

step "start the local AWS world (moto on 127.0.0.1:${port}) and provision both accounts"
"$DRCTL" sandbox up

step "idempotent: provisioning again changes nothing"
"$DRCTL" sandbox up

step "who the control plane is on each side (STS AssumeRole into each account)"
"$DRCTL" whoami

step "anti-entropy: diff the two certificate registries (a dry run: reports, changes nothing)"
"$DRCTL" reconcile

step "database snapshots: take one now and drive it into the DR account under DR's own key"
"$DRCTL" snapshot now
"$DRCTL" snapshot status

step "restore the newest DR snapshot in DR (what failover does), and report the data's age"
"$DRCTL" snapshot restore --database fleetdb --target fleetdb-demo-restore --timeout 120

step "is DR ready to take over? (drctl readiness: exits non-zero when a check fails)"
"$DRCTL" readiness

step "a failover drill that never touches production routing: restore to scratch, compare, flip the drill record, tear down"
"$DRCTL" drill --report-dir .sandbox/demo/drill-reports
cat "$(ls -t .sandbox/demo/drill-reports/*.md | head -1)"

step "failover controls: hold automatic failover, then release it (fenced writes to the state table)"
"$DRCTL" hold --reason "demo: planned primary maintenance"
"$DRCTL" release

step "a forced failover (what 'drctl failover' does in a real outage): restore, flip, notify, audit"
"$DRCTL" failover --yes --reason "demo drill"

step "failback is refused until primary has been probed healthy and a DR -> primary reconcile ran"
if "$DRCTL" failback --yes; then echo "unexpected: failback allowed" >&2; exit 1; fi

step "where the fleet stands now (drctl status; --output json for machines)"
"$DRCTL" status
