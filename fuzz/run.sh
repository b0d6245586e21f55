#!/usr/bin/env bash
# Runs the fuzz target for a bounded time: fuzz/run.sh [seconds] (default 600).
# Needs cargo-fuzz (`cargo install cargo-fuzz`); RUSTC_BOOTSTRAP lets the stable toolchain
# build with the sanitizer flags cargo-fuzz passes. Findings land in fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-600}"
mkdir -p corpus/request
RUSTC_BOOTSTRAP=1 cargo fuzz run request corpus/request -- \
    -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
