#!/usr/bin/env bash
# Measures the peak resident memory of `stylize` runs across modes, sizes and the CPU backends,
# beside the memory plan's estimate for the same run (`--dry-run --json`): the points the plan's
# model is calibrated from and checked against (docs/performance.md, "Memory plan").
#
#   benches/memory_plan.sh [STYLIZE] > benches/results/memory_plan.tsv
#
# STYLIZE defaults to target/release/stylize built with --all-features (flex and ndarray).
# Columns: mode backend size tile measured_MiB estimated_MiB ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/stylize}
photo=examples/images/tubingen.jpg
painting=examples/images/starry_night.jpg
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run() { # mode backend size tile args...
  local mode=$1 backend=$2 size=$3 tile=$4
  shift 4
  local estimate peak
  estimate=$("$bin" "$@" --backend "$backend" --size "$size" --tile "$tile" --dry-run --json -o "$work/out.png" \
    | sed -n 's/.*"peak_bytes":\([0-9]*\).*/\1/p')
  peak=$( { /usr/bin/time -f '%M' "$bin" "$@" --backend "$backend" --size "$size" \
    --tile "$tile" --quiet -o "$work/out.png" >/dev/null; } 2>&1 | tail -1)
  awk -v m="$mode" -v b="$backend" -v s="$size" -v t="$tile" -v p="$peak" -v e="$estimate" \
    'BEGIN { printf "%s\t%s\t%s\t%s\t%.0f\t%.0f\t%.2f\n", m, b, s, t, p/1024, e/1048576, (e/1048576)/(p/1024) }'
}

printf 'mode\tbackend\tsize\ttile\tmeasured_MiB\testimated_MiB\tratio\n'
for backend in flex ndarray; do
  for size in 512 1024 2048; do
    run fast "$backend" "$size" off fast "$photo" --style 3
  done
  for size in 256 512 768; do
    run optimize "$backend" "$size" off "$photo" "$painting" --scales 1 --iterations 3
  done
done
for size in 4096x2304 7680x4320; do
  run fast flex "$size" 32 fast "$photo" --style 3
done
# Burn's form on wgpu (lavapipe where no GPU is at hand: its resident memory is the device's).
for size in 256 512 768 1024; do
  run fast wgpu "$size" off fast "$photo" --style 3
done
for size in 256 512 768; do
  run fast-painting wgpu "$size" off fast "$photo" --style-image "$painting"
done
