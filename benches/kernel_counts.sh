#!/usr/bin/env bash
# Counts the GPU kernels one iteration launches on wgpu, by kind: what fusing pooling, Gram and
# loss kernels could save in launches (docs/performance.md, "Kernel launches per iteration").
# Runs `iteration_timing` twice with CubeCL's profiling log on (each kernel launch is one
# line), with 2 and 4 timed iterations after one warm-up, and prints the difference halved:
# the launches of one iteration, set-up (weights, targets) and warm-up taken out.
#
#   benches/kernel_counts.sh [ITERATION_TIMING] [MODE] [SIZE]
#
# ITERATION_TIMING defaults to target/release/examples/iteration_timing built with
# --all-features; MODE adam (default) or lbfgs-eval; SIZE 64. Any Vulkan driver will do: the
# count follows the operations and the build's Burn features, though a GPU may pick other
# kernels for some operations (a reduction's strategy follows the device's features), so
# lavapipe's count estimates a GPU's. With autotune in the build, its trial launches fall in
# the warm-up when every shape is tuned there. Columns: kernel, launches per iteration.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/examples/iteration_timing}
mode=${2:-adam}
size=${3:-64}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

count() { # iterations -> "kernel count" lines
  CUBECL_DEBUG_OPTION=profile CUBECL_DEBUG_LOG="$work/log$1.txt" \
    "$bin" --mode "$mode" --size "$size" --backend wgpu --warmup 1 --iterations "$1" \
    >/dev/null 2>"$work/err$1.txt"
  # Profiling lines: "| 341.287µs  | CopyKernel_317bf6b5" (the hash tells variants apart).
  grep -a '^| [0-9.]*[µmn]*s ' "$work/log$1.txt" | awk -F'|' '{print $3}' \
    | sed 's/_[0-9a-f]*$//; s/ *$//; s/^ *//; s/ /_/g' | sort | uniq -c | awk '{print $2, $1}' | sort
}

count 2 >"$work/two"
count 4 >"$work/four"
printf 'kernel\tper_iteration\n'
join -a1 -a2 -e0 -o 0,1.2,2.2 "$work/two" "$work/four" \
  | awk '{d = ($3 - $2) / 2; total += d; printf "%s\t%g\n", $1, d} END {printf "total\t%g\n", total}' \
  | sort -t$'\t' -k2 -rn
