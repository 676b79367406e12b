#!/usr/bin/env bash
# Runs every fuzz target in turn, one job at a time (docs/fuzzing.md), on stable Rust through
# RUSTC_BOOTSTRAP=1. Usage: fuzz/run_all.sh [SECONDS_PER_TARGET]  (default 600; the cheap
# jpeg_markers target runs 5 million inputs instead). Statistics go to fuzz/logs/<target>.log.
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
seconds=${1:-600}
# Memory: at most 2 GiB resident and no single allocation over 2 GiB (the image decoder is
# allowed 1 GiB by design); time: 10 s per input.
bounds=(-rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 -print_final_stats=1)
mkdir -p logs
cargo fuzz build -O
run() {
    local target=$1 max_len=$2
    shift 2
    mkdir -p "corpus/$target"
    cargo fuzz run -O "$target" "corpus/$target" "seeds/$target" -- \
        "${bounds[@]}" -max_len="$max_len" "$@" 2>&1 | tee "logs/$target.log" | grep -E '^(#[0-9]+ +DONE|stat::|==[0-9]+==ERROR|SUMMARY)' || true
}
run jpeg_markers 4096 -runs=5000000
run onnx_weights 32768 -max_total_time="$seconds"
run pastiche_bin 16384 -max_total_time="$seconds"
run image_decode 16384 -max_total_time="$seconds"
