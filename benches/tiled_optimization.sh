#!/usr/bin/env bash
# The optimization in tiles, side by side with the whole run in one script (machines here
# differ 2x from day to day):
#  1. 2048x1536, the same settings whole and in tiles of 1024 (Adam, one pass per iteration;
#     then L-BFGS, two passes): final total loss of each (the whole picture's objective:
#     tiles evaluate it exactly up to the halo), time per iteration-pixel, peak memory, and
#     the seam measure (benches/seam_measure.py) of each picture along the tile borders;
#  2. 4096x3072 in three scales (1024, 2048, 4096; tiles of 512 at every scale above 512),
#     Adam, a few iterations at the top: peak memory against the estimate of the whole run.
# docs/performance.md ("Optimization in tiles") has the figures.
#
#   benches/tiled_optimization.sh [STYLIZE]     (PART=1 or PART=2 for one part)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/stylize}
photo=examples/images/tubingen.jpg
painting=examples/images/starry_night.jpg
out=${OUT:-target/tiled_optimization}
mkdir -p "$out"

run() { # label out.png tile-for-seams args...
  local label=$1 png=$2 tile=$3 line json secs kb iters size px
  shift 3
  line=$( { /usr/bin/time -f 'TIME %e %M' "$bin" "$photo" "$painting" -o "$png" --json \
    --quiet "$@" >"$out/$label.json"; } 2>&1 | grep TIME)
  read -r _ secs kb <<<"$line"
  json=$(cat "$out/$label.json")
  iters=$(sed 's/.*"iterations":\([0-9]*\).*/\1/' <<<"$json")
  size=$(sed 's/.*"width":\([0-9]*\),"height":\([0-9]*\).*/\1x\2/' <<<"$json")
  total=$(sed 's/.*"total":\([-0-9.eE+]*\).*/\1/' <<<"$json")
  seams=$(benches/seam_measure.py "$png" "$tile")
  awk -v l="$label" -v s="$size" -v i="$iters" -v secs="$secs" -v kb="$kb" -v t="$total" \
    -v seams="$seams" 'BEGIN {
    split(s, d, "x"); px = d[1] * d[2];
    printf "%s\t%s\t%d\t%.4e\t%.1f s\t%.3f us/it/px\t%.2f GiB\t%s\n", l, s, i, t, secs,
      secs * 1e6 / (i * px), kb / 1048576, seams }'
}

printf 'run\tsize\titerations\tfinal loss\ttime\ttime per iteration-pixel\tpeak\tseams\n'
if [ "${PART:-1}" = 1 ]; then
  common=(--size 2048 --seed 1)
  run adam-whole "$out/adam_whole.png" 1024 "${common[@]}" --optimizer adam --iterations 20 --tile off
  run adam-tiles "$out/adam_tiles.png" 1024 "${common[@]}" --optimizer adam --iterations 20 --tile 1024 --tile-halo 32
  run lbfgs-whole "$out/lbfgs_whole.png" 1024 "${common[@]}" --iterations 5 --tile off
  run lbfgs-tiles "$out/lbfgs_tiles.png" 1024 "${common[@]}" --iterations 5 --tile 1024 --tile-halo 32
fi
if [ "${PART:-2}" = 2 ]; then
  "$bin" "$photo" "$painting" -o "$out/big.png" --size 4096 --scales 3 --optimizer adam \
    --iterations 3 --tile 512 --dry-run
  "$bin" "$photo" "$painting" -o "$out/big.png" --size 4096 --scales 3 --optimizer adam \
    --iterations 3 --tile off --dry-run || true
  run adam-4096 "$out/adam_4096.png" 512 --size 4096 --scales 3 --optimizer adam \
    --iterations 3 --tile 512 --tile-halo 32
fi
