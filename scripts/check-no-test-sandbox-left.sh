#!/usr/bin/env bash
# After `make test`: no sandbox server started by the tests may outlive them. Test-owned
# servers run with --exit-with-parent; the one `drctl-sandbox up` starts does not, and is
# left alone.
set -euo pipefail
# Also the Runtime API emulators and Lambda binaries the end-to-end test starts.
pattern='sandbox/launcher.py .*--exit-with-parent|cargo-lambda lambda watch --only-lambda-apis|debug/(cert-capture|cert-replicator|reconciler|snapshot-controller)$'
for _ in $(seq 1 20); do
  if ! pgrep -f "$pattern" >/dev/null; then
    echo "sandbox check: no test sandbox, emulator or Lambda left running"
    exit 0
  fi
  sleep 0.25
done
echo "sandbox check: test processes survived the tests:" >&2
pgrep -af "$pattern" >&2
exit 1
