# syntax=docker/dockerfile:1
# fastbrc on an NVIDIA GPU. Build and run (docs/multi-device.md, "Docker"):
#   docker build -t fastbrc .
#   docker run --gpus all -v "$PWD/runs:/work/runs" fastbrc                  # HumanoidWalk
#   docker run --gpus all -v "$PWD/runs:/work/runs" fastbrc train --env humanoid-dmc
# JAX's CUDA 12 wheels (the `cuda12` extra) bring their own CUDA libraries; the base image only
# has to carry the NVIDIA container runtime's settings, so it is the small "base" flavour.
# CUDA 12 rather than 13 because it serves the most drivers: R525 and newer, where the
# `cuda13` extra needs R580+ (`uv sync --extra cuda13` in a checkout on such a machine).
FROM nvidia/cuda:12.8.1-base-ubuntu24.04

# Pinned uv (a static binary) from its official image.
COPY --from=ghcr.io/astral-sh/uv:0.13.8 /uv /uvx /usr/local/bin/

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

ENV DEBIAN_FRONTEND=noninteractive \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    XLA_PYTHON_CLIENT_PREALLOCATE=false \
    MUJOCO_GL=egl \
    PYOPENGL_PLATFORM=egl \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics

# Python 3.12 (Ubuntu 24.04's), git for MuJoCo Menagerie, EGL for headless rendering.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       python3 python3-venv git ca-certificates libegl1 libgl1 libglvnd0 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/fastbrc

# 1. Dependencies only (this layer is rebuilt only when pyproject.toml or uv.lock change).
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --extra cuda12 --no-install-project --python /usr/bin/python3

# 2. MuJoCo Menagerie at the commit Playground pins, so G1/T1/H1 work offline at run time
#    (a shallow fetch of that one commit instead of Playground's full clone).
RUN MENAGERIE="$(python -c 'from mujoco_playground._src import mjx_env; print(mjx_env.MENAGERIE_PATH)')" \
    && SHA="$(python -c 'from mujoco_playground._src import mjx_env; print(mjx_env.MENAGERIE_COMMIT_SHA)')" \
    && git init -q "$MENAGERIE" \
    && git -C "$MENAGERIE" fetch -q --depth 1 https://github.com/google-deepmind/mujoco_menagerie "$SHA" \
    && git -C "$MENAGERIE" checkout -q FETCH_HEAD \
    && rm -rf "$MENAGERIE/.git" \
    && test -f "$MENAGERIE/unitree_g1/scene_mjx.xml"

# 3. The project itself (the only layer a source change rebuilds).
COPY README.md ./
COPY fastbrc ./fastbrc
COPY benchmarks ./benchmarks
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --extra cuda12 --no-editable --python /usr/bin/python3 \
    && fastbrc --help > /dev/null

# Unprivileged user with uid 1000 (the usual first user of a host, so files written to a
# mounted run directory belong to them; on other hosts pass --user "$(id -u):$(id -g)").
RUN userdel --remove ubuntu \
    && useradd --create-home --uid 1000 fastbrc \
    && mkdir -p /work/runs \
    && chown -R fastbrc:fastbrc /work \
    && chmod 1777 /work/runs
ENV HOME=/home/fastbrc
USER 1000:1000
WORKDIR /work
# Runs go to runs/<env>-<time>/ under /work: mount a host directory here to keep them.
VOLUME ["/work/runs"]

ENTRYPOINT ["fastbrc"]
CMD ["train", "--env", "HumanoidWalk"]
