#!/usr/bin/env bash
# Video consistency side by side in one run (docs/video.md, "Measured"): the benchmark clip
# (examples/video_clip.rs: a pan over a real photo with an object moving across it, 48 frames
# at 480x272, every motion known) stylized with style 19 per frame (--temporal 0) and with
# the flow-warped blending at several strengths; for each, the warping error against the
# true motion, the sharpness and the frames per second end to end (decode, flow, network,
# encode). Then the optical flow alone at 640x360 (time per frame pair, endpoint error) and
# the end-to-end speed on a 640x360 clip.
#
#   cargo build --release -p stylize --example video_clip
#   benches/video_consistency.sh [STYLIZE] [VIDEO_CLIP]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/stylize}
clip_tool=${2:-target/release/examples/video_clip}
out=${OUT:-target/video_consistency}
mkdir -p "$out"

"$clip_tool" make "$out/clip.mp4" 480x272 48
printf 'temporal\twarping error\tsharpness\tframes/s\n'
for t in 0 0.3 0.6 0.8 0.9; do
  json=$("$bin" video "$out/clip.mp4" --style 19 --temporal "$t" -o "$out/styled_$t.mp4" \
    --overwrite --json --quiet)
  fps=$(sed 's/.*"frames_per_second":\([0-9.]*\).*/\1/' <<<"$json")
  m=$("$clip_tool" measure "$out/styled_$t.mp4" 480x272 48)
  err=$(sed 's/.*"warping_error":\([0-9.]*\).*/\1/' <<<"$m")
  sharp=$(sed 's/.*"sharpness":\([0-9.]*\).*/\1/' <<<"$m")
  printf '%s\t%s\t%s\t%.2f\n' "$t" "$err" "$sharp" "$fps"
done
m=$("$clip_tool" measure "$out/clip.mp4" 480x272 48)
printf 'input frames\t%s\n' "$m"
printf 'flow 640x360\t%s\n' "$("$clip_tool" flow 640x360)"
"$clip_tool" make "$out/clip360.mp4" 640x360 48
json=$("$bin" video "$out/clip360.mp4" --style 19 -o "$out/styled360.mp4" --overwrite --json --quiet)
printf '640x360 end to end\t%s\n' "$json"
