#!/usr/bin/env bash
# The 26-style network past memory: time and peak memory of `stylize fast` whole at 1024x768
# (the reference time per pixel), whole and in bands of 32 rows at 8K (7680x4320; whole takes
# about 6 GiB), and in bands at 20000x15000 when HUGE=1 (minutes); each run's time per pixel
# beside the reference's. docs/performance.md ("Bands past memory") has the
# figures.
#
#   benches/fast_bands.sh [STYLIZE]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/stylize}
photo=examples/images/tubingen.jpg
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run() { # label size tile
  local label=$1 size=$2 tile=$3 line
  line=$( { /usr/bin/time -f 'TIME %e %M' "$bin" fast "$photo" --style 3 --size "$size" \
    --tile "$tile" --quiet -o "$work/out.png" >/dev/null; } 2>&1 | grep TIME)
  read -r _ secs kb <<<"$line"
  awk -v l="$label" -v s="$size" -v t="$tile" -v secs="$secs" -v kb="$kb" 'BEGIN {
    split(s, d, "x"); px = d[1] * d[2];
    printf "%s\t%s\t%s\t%.1f s\t%.2f GiB\t%.3f us/px\n", l, s, t, secs, kb / 1048576, secs * 1e6 / px }'
}

printf 'run\tsize\ttile\ttime\tpeak\ttime per pixel\n'
run whole 1024x768 off
run whole 7680x4320 off
run bands 7680x4320 32
if [ "${HUGE:-0}" = 1 ]; then run bands 20000x15000 32; fi
