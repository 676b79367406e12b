#!/usr/bin/env bash
# GPU side-by-side benchmark: style-transfer on each GPU backend compiled in (wgpu, cuda)
# against PyTorch CUDA on the same GPU in one go, for the same work as the CPU side-by-side
# (benches/side_by_side.sh): same VGG19 weights, images, layers, losses and clamping, init from
# content, float32 on both sides (TF32 off on PyTorch's).
#
#   benches/gpu_side_by_side.sh [SIZES] [ITERATIONS] [RUN_ITERATIONS]
#       defaults: "512 1024", 20 timed iterations (after 3 untimed), a 500-iteration run
#
# Per size: one Adam iteration and one L-BFGS function evaluation (median of the timed ones);
# then a whole run at 512x512 with L-BFGS (wall time from process start, start-up included,
# time to the first iteration, final total loss, evaluations). Peak GPU memory is read the same
# way for both sides: nvidia-smi's used memory, sampled every 20 ms, minus what was in use
# before the process started (PyTorch's own peak allocation is reported too).
#
# Builds target/release/examples/iteration_timing with the GPU features unless BIN names a
# prebuilt one (a GPU machine without Rust). PyTorch comes from PYTHON (default python3) and is
# only a comparison, never a dependency of the crates; it is skipped when that Python has no
# CUDA. Writes target/gpu_side_by_side/results.json (one JSON object per run) and table.md.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${1:-"512 1024"}
iterations=${2:-20}
run_iterations=${3:-500}
out=target/gpu_side_by_side
mkdir -p "$out"
python=${PYTHON:-python3}

if [ -z "${BIN:-}" ]; then
  cargo build --release --features wgpu,cuda --example iteration_timing >&2
  BIN=target/release/examples/iteration_timing
fi
backends=${BACKENDS:-$("$BIN" --list-backends | grep -v -e flex -e ndarray || true)}
torch_cuda=$("$python" -c "import torch; print(int(torch.cuda.is_available()))" 2>/dev/null || echo 0)
# Fetch the weights before timing anything (no-op when cached).
"$BIN" --size 32 --iterations 1 --warmup 0 --backend flex >/dev/null 2>&1 || true

gpu_used() { nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -1 || echo 0; }
gpu_name() { nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || echo unknown; }

# Runs a command that prints one JSON line, adds the GPU memory peak (MiB above the idle
# baseline) to that line and appends it to results.json.
measure() {
  local base peak pid line
  base=$(gpu_used)
  ( peak=0; while :; do v=$(gpu_used); [ "${v:-0}" -gt "$peak" ] && peak=$v && echo "$peak" > "$out/.peak"; sleep 0.02; done ) &
  pid=$!
  echo "$base" > "$out/.peak"
  line=$(START_NS=$(date +%s%N) "$@")
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
  peak=$(cat "$out/.peak")
  "$python" - "$line" "$((peak - base))" "$(gpu_name)" >> "$out/results.json" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
r["peak_gpu_used_mib"] = int(sys.argv[2])
r["gpu_name"] = sys.argv[3]
print(json.dumps(r))
PY
}

: > "$out/results.json"
for size in $sizes; do
  for mode in adam lbfgs-eval; do
    for backend in $backends; do
      echo "size $size, $mode: style-transfer on $backend" >&2
      measure "$BIN" --backend "$backend" --mode "$mode" --size "$size" --iterations "$iterations" --warmup 3
    done
    if [ "$torch_cuda" = 1 ]; then
      echo "size $size, $mode: PyTorch CUDA" >&2
      measure "$python" benches/pytorch_side_by_side.py --device cuda --mode "$mode" --size "$size" \
        --iterations "$iterations" --warmup 3
    fi
  done
done
for backend in $backends; do
  echo "run: 512 px, $run_iterations L-BFGS iterations, style-transfer on $backend" >&2
  measure "$BIN" --backend "$backend" --mode run --size 512 --iterations "$run_iterations"
done
if [ "$torch_cuda" = 1 ]; then
  echo "run: 512 px, $run_iterations L-BFGS iterations, PyTorch CUDA" >&2
  measure "$python" benches/pytorch_side_by_side.py --device cuda --mode run --size 512 \
    --iterations "$run_iterations"
fi

"$python" - "$out" <<'PY'
import json, sys
out = sys.argv[1]
runs = [json.loads(l) for l in open(f"{out}/results.json") if l.strip()]
gpu = next((r["gpu_name"] for r in runs), "unknown")
torch = next((r["torch"] for r in runs if r["impl"] == "pytorch"), "not run")
ours = sorted({r["backend"] for r in runs if r["impl"] != "pytorch"})
ms = lambda r: r["seconds_per_iteration"]["median"] * 1e3
lines = [f"GPU: {gpu}; PyTorch {torch} (CUDA, TF32 off); ours: {', '.join(ours)}", "",
         "| work | size | " + " | ".join(f"ours {b} ms | ratio" for b in ours) + " | PyTorch ms | "
         + " | ".join(f"ours {b} GPU MiB" for b in ours) + " | PyTorch GPU MiB |",
         "|---|---|" + "---|---|" * len(ours) + "---|" + "---|" * len(ours) + "---|"]
for size in sorted({r["size"] for r in runs if r["mode"] != "run"}):
    for mode, name in [("adam", "Adam iteration"), ("lbfgs-eval", "L-BFGS evaluation")]:
        pick = lambda impl, b=None: next((r for r in runs if r["mode"] == mode and r["size"] == size
                                          and (r["impl"] == impl) and (b is None or r.get("backend") == b)), None)
        theirs = pick("pytorch")
        row = [name, str(size)]
        for b in ours:
            r = pick("style-transfer", b)
            row += [f"{ms(r):.1f}" if r else "-", f"{ms(r) / ms(theirs):.2f}" if r and theirs else "-"]
        row.append(f"{ms(theirs):.1f}" if theirs else "-")
        for b in ours:
            r = pick("style-transfer", b)
            row.append(str(r["peak_gpu_used_mib"]) if r else "-")
        row.append(str(theirs["peak_gpu_used_mib"]) if theirs else "-")
        lines.append("| " + " | ".join(row) + " |")
lines += ["", "| whole run, 512 px L-BFGS | iterations | evaluations | wall s (start-up included) | first iteration after s | final total loss | peak GPU MiB |",
          "|---|---|---|---|---|---|---|"]
for r in runs:
    if r["mode"] != "run":
        continue
    who = "PyTorch CUDA" if r["impl"] == "pytorch" else f"ours, {r['backend']}"
    lines.append(f"| {who} | {r['iterations']} | {r.get('evaluations') or '-'} | {r['wall_seconds']:.1f} | "
                 f"{r['first_iteration_seconds']:.1f} | {r['total_loss_last']:.4e} | {r['peak_gpu_used_mib']} |")
table = "\n".join(lines) + "\n"
open(f"{out}/table.md", "w").write(table)
print(table)
PY
