#!/usr/bin/env bash
# The optimization mode's chain across shard borders, side by side in one run (docs/video.md,
# "Shards"): the benchmark clip (examples/video_clip.rs, every motion known), 16 frames at
# 192x108, optimized towards The Starry Night (FIRST iterations for a chain's first frame,
# LATER for the rest) in one run, and in 2 shards joined by `stylize join` with lead-ins of
# 0 and 4 frames, so the border is at frame 9. For each: the mean warping error, the error
# at the border (frame 9 against frame 8), the mean error of the other pairs, the sharpness.
#
#   cargo build --release -p stylize --example video_clip
#   benches/video_optimize_shards.sh [STYLIZE] [VIDEO_CLIP] [FIRST] [LATER]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/stylize}
clip_tool=${2:-target/release/examples/video_clip}
first=${3:-100}
later=${4:-50}
out=${OUT:-target/video_optimize_shards}
size=192x108
frames=16
border=9
rm -rf "$out"
mkdir -p "$out"
"$clip_tool" make "$out/clip.mp4" "$size" "$frames"
flags=(--optimize --style-image examples/images/starry_night.jpg --size "$size"
  --iterations "$first" --later-iterations "$later" --quiet)

# Mean error, error at the border (the pair ending at frame BORDER), mean elsewhere, sharpness.
summary() {
  python3 -c '
import json, sys
m, border = json.loads(sys.argv[1]), int(sys.argv[2])
pairs = m["pairs"]  # pairs[k]: frame k+2 against frame k+1
rest = [e for k, e in enumerate(pairs) if k + 2 != border]
print("%.5f\t%.5f\t%.5f\t%.4f" % (m["warping_error"], pairs[border - 2],
      sum(rest) / len(rest), m["sharpness"]))
' "$1" "$border"
}

printf 'run\twarping error\tat the border\telsewhere\tsharpness\n'
"$bin" video "$out/clip.mp4" "${flags[@]}" -o "$out/whole.mp4"
printf 'one run\t%s\n' "$(summary "$("$clip_tool" measure "$out/whole.mp4" "$size" "$frames")")"
for lead in 0 4; do
  for i in 0 1; do
    "$bin" video "$out/clip.mp4" "${flags[@]}" --shard "$i/2" --overlap "$lead" \
      -o "$out/frames_$lead"
  done
  "$bin" join "$out/frames_$lead" --source "$out/clip.mp4" -o "$out/joined_$lead.mp4" --quiet
  printf '2 shards, lead-in %s\t%s\n' "$lead" \
    "$(summary "$("$clip_tool" measure "$out/joined_$lead.mp4" "$size" "$frames")")"
done
