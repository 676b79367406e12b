#!/usr/bin/env bash
# Issue 21's batch benchmark: 8 photos at 128 px, 50 L-BFGS iterations each, painted three ways
# on this machine, one after the other:
#   1. one process over the whole folder;
#   2. two shards (--shard 0/2 and 1/2) run at once, one per core, into one folder;
#   3. the same two shards as a Slurm job array (--array=0-1) on a private single-node Slurm
#      (tests/slurm/local-slurm.sh; needs root and Debian's slurm-wlm and munge).
# Prints the wall time of each (the Slurm one from sbatch to the array's end, start-up of the
# daemons not counted) and checks that the three output folders are byte for byte the same.
#
#   benches/batch_shards.sh [BACKEND]     (flex by default; target/release/stylize, built first)
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-flex}
stylize=$PWD/target/release/stylize
[ -x "$stylize" ] || { echo "build first: cargo build --release -p stylize --features $backend" >&2; exit 2; }
work=$(mktemp -d)
trap 'tests/slurm/local-slurm.sh stop "$work/slurm" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

# Eight photos: the four example pictures, each twice under another name.
mkdir -p "$work/photos"
k=0
for round in 1 2; do
  for name in tubingen golden_gate the_scream starry_night; do
    cp "examples/images/$name.jpg" "$work/photos/photo$k.jpg"; k=$((k + 1))
  done
done
style=$PWD/examples/images/starry_night.jpg
"$stylize" fetch vgg >/dev/null # the weights, fetched before any timing
paint() { "$stylize" "$work/photos" --style-image "$style" -s 128 -n 50 --backend "$backend" -q "$@"; }
now() { date +%s.%N; }
seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

t0=$(now); paint -o "$work/one"; t1=$(now)
echo "one process:            $(seconds "$t0" "$t1") s"

t0=$(now)
paint -o "$work/shards" --shard 0/2 & first=$!
paint -o "$work/shards" --shard 1/2 & second=$!
wait $first; wait $second
t1=$(now)
echo "two shards at once:     $(seconds "$t0" "$t1") s"

eval "$(tests/slurm/local-slurm.sh start "$work/slurm" | tail -1)"
t0=$(now)
sbatch --wait --quiet --array=0-1 --output="$work/slurm-%a.log" \
  --wrap "'$stylize' '$work/photos' --style-image '$style' -s 128 -n 50 --backend $backend -q -o '$work/slurm-out'"
t1=$(now)
echo "two shards on Slurm:    $(seconds "$t0" "$t1") s"

for way in shards slurm-out; do
  if diff -r "$work/one" "$work/$way" >/dev/null; then
    echo "$way: the same 8 files as one process, byte for byte"
  else
    echo "$way: DIFFERS from one process" >&2; diff -r "$work/one" "$work/$way" >&2 || true; exit 1
  fi
done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); backend $backend"
