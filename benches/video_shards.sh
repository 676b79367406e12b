#!/usr/bin/env bash
# Shards of a video side by side in one run (docs/video.md, "Shards"): the benchmark clip
# (examples/video_clip.rs, 48 frames at 480x272, every motion known) stylized with style 19
# in one run, and in 4 shards joined by `stylize join` with lead-ins of 0, 4 and 8 frames.
# For each: the mean warping error, the error at the three chunk borders (frames 13, 25 and
# 37 against the frame before) and the mean error of the other pairs.
#
#   cargo build --release -p stylize --example video_clip
#   benches/video_shards.sh [STYLIZE] [VIDEO_CLIP]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/stylize}
clip_tool=${2:-target/release/examples/video_clip}
out=${OUT:-target/video_shards}
rm -rf "$out"
mkdir -p "$out"
"$clip_tool" make "$out/clip.mp4" 480x272 48

# Mean error, mean at the borders (pairs ending at frames 13, 25, 37), mean elsewhere.
summary() {
  python3 -c '
import json, sys
m = json.loads(sys.argv[1])
pairs = m["pairs"]  # pairs[k]: frame k+2 against frame k+1
border = [pairs[f - 2] for f in (13, 25, 37)]
rest = [e for k, e in enumerate(pairs) if k + 2 not in (13, 25, 37)]
print("%.5f\t%.5f (%s)\t%.5f\t%.4f" % (m["warping_error"], sum(border) / 3,
      " ".join("%.5f" % b for b in border), sum(rest) / len(rest), m["sharpness"]))
' "$1"
}

printf 'run\twarping error\tat the borders\telsewhere\tsharpness\n'
"$bin" video "$out/clip.mp4" --style 19 -o "$out/whole.mp4" --quiet
printf 'one run\t%s\n' "$(summary "$("$clip_tool" measure "$out/whole.mp4" 480x272 48)")"
for lead in 0 4 8; do
  for i in 0 1 2 3; do
    "$bin" video "$out/clip.mp4" --style 19 --shard "$i/4" --overlap "$lead" \
      -o "$out/frames_$lead" --quiet
  done
  "$bin" join "$out/frames_$lead" --source "$out/clip.mp4" -o "$out/joined_$lead.mp4" --quiet
  printf '4 shards, lead-in %s\t%s\n' "$lead" \
    "$(summary "$("$clip_tool" measure "$out/joined_$lead.mp4" 480x272 48)")"
done
