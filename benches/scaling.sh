#!/usr/bin/env bash
# Scaling: seconds per Adam iteration and peak memory of our engine at several sizes (square
# images, one level), with the slope of time against pixel count (least squares on log-log).
#
#   benches/scaling.sh ["128 256 512 1024 2048"]
#
# Writes target/scaling/results.json (one line per size) and target/scaling/table.md.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${1:-"128 256 512 1024 2048"}
out=target/scaling
mkdir -p "$out"
# Built exactly as the README's test command builds it (`cargo test` compiles the examples
# too), so that build is reused: `cargo build` or another feature set unifies features
# differently and rebuilds the whole Burn stack.
cargo test --release --workspace --all-features --no-run >&2
rust=target/release/examples/iteration_timing
: > "$out/results.json"
for size in $sizes; do
  # Fewer timed iterations where one takes long; always one untimed warm-up.
  its=$(( size >= 2048 ? 2 : size >= 1024 ? 3 : 5 ))
  echo "size $size: $its iterations" >&2
  "$rust" --mode adam --size "$size" --iterations "$its" --warmup 1 >> "$out/results.json"
done
python3 - "$out" <<'PY'
import json, math, sys
out = sys.argv[1]
runs = [json.loads(l) for l in open(f"{out}/results.json") if l.strip()]
xs = [math.log(r["size"] ** 2) for r in runs]
ys = [math.log(r["seconds_per_iteration"]["median"]) for r in runs]
n = len(runs)
slope = float("nan")
if n >= 2:
    mx, my = sum(xs) / n, sum(ys) / n
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
lines = ["| size | pixels | s per Adam iteration | peak memory | s per megapixel |", "|---|---|---|---|---|"]
for r in runs:
    px, t = r["size"] ** 2, r["seconds_per_iteration"]["median"]
    lines.append(f"| {r['size']}x{r['size']} | {px / 1e6:.2f} M | {t:.3f} | {r['peak_rss_kib'] / 2**20:.2f} GiB | {t / (px / 1e6):.2f} |")
lines.append("")
lines.append(f"Slope of log(time) against log(pixels): {slope:.2f} (1.00 = linear in pixel count).")
table = "\n".join(lines) + "\n"
open(f"{out}/table.md", "w").write(table)
print(table)
PY
