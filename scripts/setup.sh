#!/usr/bin/env bash
# Set up a fresh machine for the sandbox: a project venv with the pinned moto server.
# Called by `make setup`; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1 || { echo "setup: '$1' not found; $2" >&2; exit 1; }; }
need cargo "install the Rust toolchain (rustup)"
need python3 "install Python 3.11+"

if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  echo "setup: python3 lacks venv/ensurepip; installing Debian's python3-venv" >&2
  apt-get update -qq && apt-get install -y -qq python3-venv
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r scripts/sandbox/requirements.txt
.venv/bin/python -c 'import moto, sys; print(f"setup: moto {moto.__version__} in .venv (python {sys.version.split()[0]})")'
