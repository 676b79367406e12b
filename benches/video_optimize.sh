#!/usr/bin/env bash
# The optimization mode's consistency side by side in one run (docs/video.md, "Optimization"):
# the benchmark clip (examples/video_clip.rs: a pan over a real photo with an object moving
# across it, every motion known), 8 frames at 192x108, optimized towards The Starry Night
# frame by frame on their own (--temporal-weight 0: each frame from itself) and chained
# (each frame from the previous output moved by the flow, with the temporal term) at several
# weights, with the same iterations (FIRST for the first frame, LATER for the rest); for
# each, the warping error against the true motion, the sharpness and the seconds.
#
#   cargo build --release -p stylize --example video_clip
#   benches/video_optimize.sh [STYLIZE] [VIDEO_CLIP] [FIRST] [LATER] [WEIGHTS...]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/stylize}
clip_tool=${2:-target/release/examples/video_clip}
first=${3:-100}
later=${4:-50}
shift $(( $# < 4 ? $# : 4 ))
weights=("${@:-0 30 100 300 1000}")
read -r -a weights <<<"${weights[*]}"
out=${OUT:-target/video_optimize}
size=192x108
frames=8
mkdir -p "$out"

"$clip_tool" make "$out/clip.mp4" "$size" "$frames"
printf 'temporal weight\twarping error\tsharpness\tseconds\n'
for w in "${weights[@]}"; do
  json=$("$bin" video "$out/clip.mp4" --optimize --style-image examples/images/starry_night.jpg \
    --size "$size" --iterations "$first" --later-iterations "$later" --temporal-weight "$w" \
    -o "$out/optimized_$w.mp4" --overwrite --json --quiet)
  seconds=$(sed 's/.*"seconds":\([0-9.]*\).*/\1/' <<<"$json")
  m=$("$clip_tool" measure "$out/optimized_$w.mp4" "$size" "$frames")
  err=$(sed 's/.*"warping_error":\([0-9.]*\).*/\1/' <<<"$m")
  sharp=$(sed 's/.*"sharpness":\([0-9.]*\).*/\1/' <<<"$m")
  printf '%s\t%s\t%s\t%.1f\n' "$w" "$err" "$sharp" "$seconds"
done
printf 'input frames\t%s\n' "$("$clip_tool" measure "$out/clip.mp4" "$size" "$frames")"
