#!/usr/bin/env bash
# Release zips of the five Lambdas for the CDK app (infra/), one per function:
#   infra/lambda-assets/<arch>/<function>/bootstrap.zip
# then a table of their sizes (target: at most 8 MB each).
#
# Usage: scripts/build-lambdas.sh [arm64|x86_64]     (`make lambda-zips ARCH=…`; default arm64)
#
# cargo-lambda (pinned in scripts/sandbox/requirements.txt, installed in .venv by `make
# setup`) cross-compiles and links with zig from the pinned `ziglang` wheel in the same venv,
# for both architectures: zig links against an old glibc, so the binaries run on the
# provided.al2023 runtime (glibc 2.34) whatever the build host's glibc. With --release it
# also strips symbols. Deploy with the same architecture: `-c lambdaArchitecture=<arch>`.
set -euo pipefail
cd "$(dirname "$0")/.."

arch="${1:-arm64}"
case "$arch" in
  arm64 | aarch64) arch=arm64 target=aarch64-unknown-linux-gnu flag=--arm64 ;;
  x86_64 | x86-64 | amd64) arch=x86_64 target=x86_64-unknown-linux-gnu flag=--x86-64 ;;
  *) echo "usage: $0 [arm64|x86_64]" >&2; exit 2 ;;
esac

# cargo-lambda finds zig as `python3 -m ziglang` in the venv.
export PATH="$PWD/.venv/bin:$PATH"
command -v cargo-lambda >/dev/null || { echo "build-lambdas: cargo-lambda not in .venv; run make setup" >&2; exit 1; }
python3 -c 'import ziglang' 2>/dev/null || { echo "build-lambdas: ziglang not in .venv; run make setup" >&2; exit 1; }

# cargo-lambda would otherwise try `rustup target add`, which needs the network.
if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  echo "build-lambdas: the Rust standard library for $target is not installed." >&2
  echo "  On a machine that can reach the Rust toolchain servers: rustup target add $target" >&2
  [ "$arch" = arm64 ] && echo "  Without it, build x86_64 zips and deploy with -c lambdaArchitecture=x86_64." >&2
  exit 1
fi

functions=(cert-capture cert-replicator reconciler snapshot-controller health-checker)
out="infra/lambda-assets/$arch"
packages=()
for f in "${functions[@]}"; do packages+=(--package "$f"); done

cargo lambda build --release "$flag" --locked --output-format zip --lambda-dir "$out" "${packages[@]}"

limit=$((8 * 1024 * 1024))
over=0
printf '\n%-22s %10s  %s\n' "function ($arch)" "zip" "path"
for f in "${functions[@]}"; do
  zip="$out/$f/bootstrap.zip"
  [ -f "$zip" ] || { echo "build-lambdas: $zip was not produced" >&2; exit 1; }
  bytes=$(stat -c %s "$zip")
  mark=""
  if [ "$bytes" -gt "$limit" ]; then mark="  over 8 MB"; over=1; fi
  printf '%-22s %7.2f MB  %s%s\n' "$f" "$(awk -v b="$bytes" 'BEGIN { print b / 1048576 }')" "$zip" "$mark"
done
if [ "$over" -ne 0 ]; then
  echo "build-lambdas: a zip is over the 8 MB target (still deployable: Lambda takes 50 MB zipped)" >&2
fi
