#!/usr/bin/env bash
# `make test`: build the Lambda binaries (the end-to-end test runs them), run every test,
# check nothing the tests started survived them, and close with one summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
log="${CARGO_TARGET_DIR:-target}/test-output.log"
mkdir -p "$(dirname "$log")"

# The CDK app first (a minute, no Rust build): its counts join the summary below.
make --no-print-directory infra-test 2>&1 | tee "$log.infra"
# Everything at once, with the tests' features: one build of the SDK crates (see Makefile).
cargo build --workspace --all-targets --locked
# Test threads get 8 MiB of stack, as drctl's main thread has. A debug build keeps every
# await point's state on the stack, and the failover, failback and readiness use cases
# the sandbox tests drive in-process go deeper than the 2 MiB default. Each runbook step and
# each readiness check is already boxed so that the Lambdas' 2 MiB worker threads hold.
RUST_MIN_STACK=8388608 cargo test --workspace --locked 2>&1 | tee "$log"
scripts/check-no-test-sandbox-left.sh

# cargo prints one "test result:" line per test binary, node's runner "ℹ pass N" / "ℹ fail N";
# add them up.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
     $1 == "ℹ" && $2 == "pass" { p += $3 }  $1 == "ℹ" && $2 == "fail" { f += $3 }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log.infra" "$log"
