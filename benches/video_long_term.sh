#!/usr/bin/env bash
# Long-term consistency of the optimization's chain (docs/video.md, "Long-term"): the
# benchmark clip of benches/video_optimize.sh (8 frames at 192x108, every motion known),
# optimized towards The Starry Night with the chain at the default weight, holding each frame
# to the previous one only and with `--long-term 2,4` (Ruder et al.'s closestFirst), and on
# their own for reference. Warping error against the true motion between each frame and the
# one 1, 2 and 4 frames before it, sharpness, seconds.
#
#   cargo build --release --workspace --all-features --bin stylize --example video_clip
#   benches/video_long_term.sh [STYLIZE] [VIDEO_CLIP] [FIRST LATER]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/stylize}
clip_tool=${2:-target/release/examples/video_clip}
first=${3:-100}
later=${4:-50}
out=${OUT:-target/video_long_term}
size=192x108
frames=8
mkdir -p "$out"

"$clip_tool" make "$out/clip.mp4" "$size" "$frames"
field() { sed "s/.*\"$1\":\([0-9.]*\).*/\1/"; }
printf 'run\twarping error, gap 1\tgap 2\tgap 4\tsharpness\tseconds\n'
for run in "own:--temporal-weight 0" "previous:" "long-term 2,4:--long-term 2,4"; do
  name=${run%%:*}
  read -r -a extra <<<"${run#*:}"
  json=$("$bin" video "$out/clip.mp4" --optimize --style-image examples/images/starry_night.jpg \
    --size "$size" --iterations "$first" --later-iterations "$later" "${extra[@]}" \
    -o "$out/$name.mp4" --overwrite --json --quiet)
  row=("$name")
  for gap in 1 2 4; do
    row+=("$("$clip_tool" measure "$out/$name.mp4" "$size" "$frames" --gap "$gap" | field warping_error)")
  done
  row+=("$("$clip_tool" measure "$out/$name.mp4" "$size" "$frames" | field sharpness)")
  row+=("$(field seconds <<<"$json")")
  (IFS=$'\t'; printf '%s\n' "${row[*]}")
done
