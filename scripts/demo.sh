#!/usr/bin/env bash
# `make demo`: the local two-account drill. Runs on its own sandbox (own port, own state
# dir), so a sandbox started by hand with `make sandbox-up` is left alone, and stops it and
# every helper process on any exit so nothing is left behind.
#
# The story: provision both accounts, register a fleet in primary and watch it replicate
# to DR through the real Lambda binaries, snapshot the database into DR, check readiness,
# run a drill (with a canary device connecting to DR), then the game day: primary's whole
# region fails, the health checker fails over on its own from DR alone, the region comes
# back, and an operator fails back.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DRCTL:?set by make demo}" "${SANDBOX:?set by make demo}" "${CONFIG:?set by make demo}"

demo_dir="$PWD/.sandbox/demo"
rm -rf "$demo_dir" && mkdir -p "$demo_dir"
export DRCTL_SANDBOX_DIR="$demo_dir"
free_port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
dr_endpoint_port=$(free_port)
export DRCTL__SANDBOX__ENDPOINT="http://127.0.0.1:${port}"

# The demo's config: the sandbox's, plus the drill's canary device (a table, which only a
# file can carry), connecting to the DR endpoint stand-in started below.
export DRCTL_CONFIG="$demo_dir/config.toml"
cat "$CONFIG" - > "$DRCTL_CONFIG" <<TOML

[drill.canary]
kind = "mqtt"
host = "127.0.0.1"
port = ${dr_endpoint_port}
server_name = "iot.example.com"
alpn = "x-amzn-mqtt-ca"
ca_file = "${demo_dir}/dr-endpoint/endpoint-ca.pem"
client_cert_file = "${demo_dir}/fleet/canary-cert.pem"
client_key_file = "${demo_dir}/fleet/canary-key.pem"
client_id = "dr-canary"
TOML

step() { printf '\n== %s\n' "$*"; }
endpoint_pid=
cleanup() {
    if [ -n "$endpoint_pid" ]; then
        kill "$endpoint_pid" 2>/dev/null || true
        wait "$endpoint_pid" 2>/dev/null || true
    fi
    step "stop the sandbox"
    "$SANDBOX" down
}
trap cleanup EXIT

step "start the local AWS world (moto on 127.0.0.1:${port}) and provision both accounts"
"$SANDBOX" up

step "idempotent: provisioning again changes nothing"
"$SANDBOX" up

step "who the control plane is on each side (STS AssumeRole into each account)"
"$DRCTL" whoami

step "a fleet of 200 wearables in primary (40 by just-in-time registration, 1 revoked), replicated to DR by the real capture and replicator Lambdas"
"$SANDBOX" fleet --out-dir "$demo_dir/fleet"

step "anti-entropy agrees: diff the two certificate registries (a dry run: reports, changes nothing)"
"$DRCTL" reconcile

step "database snapshots: take one now and drive it into the DR account under DR's own key"
"$DRCTL" snapshot now
"$DRCTL" snapshot status

step "restore the newest DR snapshot in DR (what failover does), and report the data's age"
"$DRCTL" snapshot restore --database fleetdb --target fleetdb-restore-demo --timeout 120

step "is DR ready to take over? (drctl readiness: exits non-zero when a check fails)"
"$DRCTL" readiness

step "DR's IoT endpoint (a local stand-in that lets in only devices ACTIVE in DR's registry whose policies — their own, or their thing groups' — allow the connection)"
"$SANDBOX" endpoint --port "$dr_endpoint_port" --device-ca "$demo_dir/fleet/fleet-ca.pem" \
    --dir "$demo_dir/dr-endpoint" > "$demo_dir/dr-endpoint.out" &
endpoint_pid=$!
for _ in $(seq 100); do grep -q READY "$demo_dir/dr-endpoint.out" 2>/dev/null && break; sleep 0.1; done
cat "$demo_dir/dr-endpoint.out"

step "a failover drill that never touches production routing: restore to scratch, compare, flip the drill record, connect the canary, tear down"
"$DRCTL" drill --report-dir "$demo_dir/drill-reports"
cat "$(ls -t "$demo_dir"/drill-reports/*.md | head -1)"

step "failover controls: a first deploy starts HELD (drctl status says by whom); hold with a reason, then release: automatic failover is armed (fenced writes to the state table)"
"$DRCTL" status | grep -i "held" || true
"$DRCTL" hold --reason "demo: planned primary maintenance"
"$DRCTL" release

step "primary's whole region hangs (every call signed for it accepted, never answered): drctl status still answers in seconds, naming what it could not read"
"$SANDBOX" outage start --scope primary --mode hang
started=$(date +%s%N)
"$DRCTL" status || true
echo "drctl status took $(( ($(date +%s%N) - started) / 1000000 )) ms with primary's region hung (exit 1: something is unreadable)"
"$SANDBOX" outage status
"$SANDBOX" outage end --scope primary

step "game day: primary's whole region hangs, its IoT endpoint and Route 53's control plane with it; the real health-checker Lambda (cold-started mid-outage) fails over from DR alone, then the region comes back"
"$SANDBOX" outage simulate --mode hang --route53-down --work-dir "$demo_dir/outage"

step "where the fleet stands (drctl status; --output json for machines; exit 1: DR serves, which needs attention)"
"$DRCTL" status || true

# Scaled down: production waits 15 minutes of healthy primary before failback.
export DRCTL__FAILOVER__FAILBACK_AFTER_HEALTHY_SECONDS=0
step "failback is refused until primary has caught up with what changed in DR"
if "$DRCTL" failback --yes; then echo "unexpected: failback allowed" >&2; exit 1; fi

step "reverse reconcile: DR -> primary (recorded in the failover state: failback's precondition)"
"$DRCTL" reconcile --direction dr-to-primary --apply

step "failback asks what becomes of what DR's database took during the outage; the operator carries it back (a final snapshot of the failover's database, copied into primary's account and region), then traffic flips back ('primary serves' for a whole alarm period, ~70 s) and DR's database is retired (final snapshot kept, deletion protection honoured). Each run continues it while RDS works"
finished=""
for _ in $(seq 40); do
    out=$("$DRCTL" failback --yes --carry-back-dr-database 2>&1) || true
    echo "$out"
    if echo "$out" | grep -q "runbook .* finished"; then finished=yes; break; fi
    sleep 3
done
[ -n "$finished" ] || { echo "failback did not finish" >&2; exit 1; }

step "where the fleet stands now: primary serves again"
"$DRCTL" status || true
