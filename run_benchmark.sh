#!/usr/bin/env bash
# Builds transport-bench in release mode and runs it; every argument is passed through
# (e.g. ./run_benchmark.sh --iterations 2000 --sizes small,big --export-json results.json).
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo not found; install Rust from https://rustup.rs and try again" >&2
  exit 2
fi
echo "Building transport-bench (release)..."
cargo build --release --quiet
exec ./target/release/transport-bench "$@"
