#!/usr/bin/env bash
# After `make test`: no sandbox server started by the tests may outlive them. Test-owned
# servers run with --exit-with-parent; the one `drctl sandbox up` starts does not, and is
# left alone.
set -euo pipefail
for _ in $(seq 1 20); do
  if ! pgrep -f 'sandbox/launcher.py .*--exit-with-parent' >/dev/null; then
    echo "sandbox check: no test sandbox left running"
    exit 0
  fi
  sleep 0.25
done
echo "sandbox check: test sandbox processes survived the tests:" >&2
pgrep -af 'sandbox/launcher.py .*--exit-with-parent' >&2
exit 1
