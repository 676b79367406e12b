#!/usr/bin/env bash
# Side-by-side benchmark: style-transfer (Rust, this repository) against PyTorch on the same
# machine in one go, for the same work (same VGG19 weights read from the project's ONNX file,
# same images, layers, losses and clamping, init from content, same number of threads).
#
#   benches/side_by_side.sh [SIZES] [ITERATIONS]      # defaults: "256 512" and 10
#
# Creates benches/.venv (torch, numpy, onnx, pillow) on first use; PyTorch is only ever a
# comparison, never a dependency of the crates. Writes target/side_by_side/results.json
# (one JSON object per run) and target/side_by_side/table.md, and prints the table.
# Ours runs twice: on the Winograd CPU path (the default) and on Burn's own convolutions and
# autodiff (--no-winograd, the "before" figures); BURN_PATH=0 skips the second.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${1:-"256 512"}
iterations=${2:-10}
threads=${THREADS:-$(nproc)}
out=target/side_by_side
mkdir -p "$out"

venv=benches/.venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import torch, onnx, PIL" 2>/dev/null; then
  echo "creating $venv with torch, numpy, onnx, pillow (first use only)" >&2
  python3 -m venv "$venv"
  # The CPU build where its index is reachable, else PyPI's default build (runs on the CPU).
  timeout 120 "$venv/bin/pip" install -q --index-url https://download.pytorch.org/whl/cpu torch \
    || "$venv/bin/pip" install -q torch
  "$venv/bin/pip" install -q numpy onnx pillow
fi

# Built exactly as the README's test command builds it (`cargo test` compiles the examples and
# binaries too), so that build is reused: `cargo build` or another feature set unifies
# features differently and rebuilds the whole Burn stack.
cargo test --release --workspace --all-features --no-run >&2
rust=target/release/examples/iteration_timing
# Fetch the weights before timing anything (no-op when cached).
"$rust" --size 32 --iterations 1 --warmup 0 >/dev/null

: > "$out/results.json"
for size in $sizes; do
  for mode in adam lbfgs-eval; do
    echo "size $size, $mode: style-transfer, then PyTorch ($threads threads)" >&2
    RAYON_NUM_THREADS=$threads "$rust" --mode "$mode" --size "$size" --iterations "$iterations" \
      >> "$out/results.json"
    if [ "${BURN_PATH:-1}" != 0 ]; then
      RAYON_NUM_THREADS=$threads "$rust" --mode "$mode" --size "$size" --iterations "$iterations" \
        --no-winograd >> "$out/results.json"
    fi
    "$venv/bin/python" benches/pytorch_side_by_side.py --mode "$mode" --size "$size" \
      --iterations "$iterations" --threads "$threads" >> "$out/results.json"
  done
done

python3 - "$out" <<'PY'
import json, sys, platform
out = sys.argv[1]
runs = [json.loads(l) for l in open(f"{out}/results.json") if l.strip()]
cpu, flags = "unknown", set()
for line in open("/proc/cpuinfo"):
    if line.startswith("model name") and cpu == "unknown":
        cpu = line.split(":", 1)[1].strip()
    if line.startswith("flags"):
        flags = set(line.split(":", 1)[1].split())
simd = next((n for n, f in [("AVX-512 with BF16", "avx512_bf16"), ("AVX-512", "avx512f"),
                            ("AVX2", "avx2"), ("SSE4.2", "sse4_2")] if f in flags), "baseline")
torch = next((r["torch"] for r in runs if r["impl"] == "pytorch"), "?")
lines = [f"CPU: {cpu} ({simd}), {runs[0]['threads']} threads; PyTorch {torch}", "",
         "| work | size | ours s/it | PyTorch s/it | time ratio | ours peak | PyTorch peak | memory ratio | ours loss (first, last) | PyTorch loss (first, last) | ours on Burn's path: s/it, peak |",
         "|---|---|---|---|---|---|---|---|---|---|---|"]
for size in sorted({r["size"] for r in runs}):
    for mode in ["adam", "lbfgs-eval"]:
        mine = [r for r in runs if r["impl"] != "pytorch" and r["size"] == size and r["mode"] == mode]
        ours = next((r for r in mine if r.get("winograd", True)), None)
        burn = next((r for r in mine if not r.get("winograd", True)), None)
        theirs = next((r for r in runs if r["impl"] == "pytorch" and r["size"] == size and r["mode"] == mode), None)
        if not ours or not theirs:
            continue
        a, b = ours["seconds_per_iteration"]["median"], theirs["seconds_per_iteration"]["median"]
        ma, mb = ours["peak_rss_kib"] / 2**20, theirs["peak_rss_kib"] / 2**20
        lines.append(f"| {'Adam iteration' if mode == 'adam' else 'L-BFGS evaluation'} | {size} | {a:.3f} | {b:.3f} | {a / b:.2f} | "
                     f"{ma:.2f} GiB | {mb:.2f} GiB | {ma / mb:.2f} | {ours['total_loss_first']:.4e}, {ours['total_loss_last']:.4e} | "
                     f"{theirs['total_loss_first']:.4e}, {theirs['total_loss_last']:.4e} | "
                     + (f"{burn['seconds_per_iteration']['median']:.3f} s, {burn['peak_rss_kib'] / 2**20:.2f} GiB |" if burn else "not run |"))
table = "\n".join(lines) + "\n"
open(f"{out}/table.md", "w").write(table)
print(table)
PY
