#!/usr/bin/env bash
# `make test`: build the Lambda binaries (the end-to-end test runs them), run every test,
# check nothing the tests started survived them, and close with one summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
log="${CARGO_TARGET_DIR:-target}/test-output.log"
mkdir -p "$(dirname "$log")"

cargo build --workspace --bins --locked
cargo test --workspace --locked 2>&1 | tee "$log"
scripts/check-no-test-sandbox-left.sh

# cargo prints one "test result:" line per test binary; add them up.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
