# syntax=docker/dockerfile:1
# fastbrc on an NVIDIA GPU (and on a CPU). Build and run (docs/multi-device.md, "Docker"):
#   docker build -t fastbrc .
#   docker run --gpus all -v "$PWD/runs:/work/runs" fastbrc                  # HumanoidWalk
#   docker run --gpus all -v "$PWD/runs:/work/runs" fastbrc train --env humanoid-dmc
# BASE is any Debian or Ubuntu image with apt. The default is NVIDIA's CUDA "base" flavour: JAX's
# CUDA 12 wheels (the `cuda12` extra) bring their own CUDA libraries, so the base only has to carry
# the NVIDIA container runtime's settings. CUDA 12 rather than 13 because it serves the most
# drivers: R525 and newer, where the `cuda13` extra needs R580+ (--build-arg EXTRA=cuda13).
# `make docker-check` builds this file on a Debian bookworm base made with mmdebstrap
# (--build-arg BASE=localhost/...; Python 3.11 there, 3.12 on Ubuntu 24.04: both supported).
ARG BASE=nvidia/cuda:12.8.1-base-ubuntu24.04
FROM ${BASE}

# The jax extra (cuda12, cuda13, or empty for a CPU-only image), the uv release taken from PyPI,
# and whether to fetch MuJoCo Menagerie from GitHub (MENAGERIE=0 where GitHub is out of reach).
ARG EXTRA=cuda12
ARG UV_VERSION=0.13.9
ARG MENAGERIE=1

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

# The distribution's Python 3 (3.12 on Ubuntu 24.04, 3.11 on Debian 12), git for MuJoCo
# Menagerie, EGL for headless rendering.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       python3 python3-venv git ca-certificates libegl1 libgl1 libglvnd0 \
    && rm -rf /var/lib/apt/lists/*

# Behind a TLS-intercepting proxy, pass its CA bundle as the build secret "cacert"
# (--secret id=cacert,src=/etc/ssl/certs/ca-certificates.crt): the steps that download use it,
# the image does not keep it.
# uv from PyPI, in a venv of its own (PEP 668: no pip into the system Python of either base).
RUN --mount=type=secret,id=cacert \
    if [ -f /run/secrets/cacert ]; then export PIP_CERT=/run/secrets/cacert; fi; \
    python3 -m venv /opt/uv \
    && /opt/uv/bin/pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}" \
    && ln -s /opt/uv/bin/uv /usr/local/bin/uv \
    && uv --version

WORKDIR /opt/fastbrc

# 1. Dependencies only (this layer is rebuilt only when pyproject.toml or uv.lock change).
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv --mount=type=secret,id=cacert \
    if [ -f /run/secrets/cacert ]; then export SSL_CERT_FILE=/run/secrets/cacert; fi; \
    uv sync --frozen --no-dev ${EXTRA:+--extra "$EXTRA"} --no-install-project --python /usr/bin/python3

# 2. MuJoCo Menagerie at the commit Playground pins, so G1/T1/H1 work offline at run time
#    (a shallow fetch of that one commit instead of Playground's full clone).
RUN --mount=type=secret,id=cacert \
    if [ "$MENAGERIE" != 1 ]; then echo "MuJoCo Menagerie not fetched (MENAGERIE=$MENAGERIE)"; exit 0; fi; \
    if [ -f /run/secrets/cacert ]; then export GIT_SSL_CAINFO=/run/secrets/cacert; fi; \
    MENAGERIE_DIR="$(python -c 'from mujoco_playground._src import mjx_env; print(mjx_env.MENAGERIE_PATH)')" \
    && SHA="$(python -c 'from mujoco_playground._src import mjx_env; print(mjx_env.MENAGERIE_COMMIT_SHA)')" \
    && git init -q "$MENAGERIE_DIR" \
    && git -C "$MENAGERIE_DIR" fetch -q --depth 1 https://github.com/google-deepmind/mujoco_menagerie "$SHA" \
    && git -C "$MENAGERIE_DIR" checkout -q FETCH_HEAD \
    && rm -rf "$MENAGERIE_DIR/.git" \
    && test -f "$MENAGERIE_DIR/unitree_g1/scene_mjx.xml"

# 3. The project itself (the only layer a source change rebuilds).
COPY README.md LICENSE ./
COPY fastbrc ./fastbrc
COPY benchmarks ./benchmarks
RUN --mount=type=cache,target=/root/.cache/uv --mount=type=secret,id=cacert \
    if [ -f /run/secrets/cacert ]; then export SSL_CERT_FILE=/run/secrets/cacert; fi; \
    uv sync --frozen --no-dev ${EXTRA:+--extra "$EXTRA"} --no-editable --python /usr/bin/python3 \
    && fastbrc --help > /dev/null

# Unprivileged user with uid 1000 (the usual first user of a host, so files written to a
# mounted run directory belong to them; on other hosts pass --user "$(id -u):$(id -g)").
# Ubuntu's images have a user "ubuntu" with that uid; Debian's have none. The benchmark
# scripts (/opt/fastbrc/benchmarks/gpu.sh) write runs/ and benchmarks/results/ there.
RUN if id -u ubuntu > /dev/null 2>&1; then userdel --remove ubuntu; fi \
    && useradd --create-home --uid 1000 fastbrc \
    && mkdir -p /work/runs /opt/fastbrc/runs \
    && chown -R fastbrc:fastbrc /work /opt/fastbrc/runs /opt/fastbrc/benchmarks/results \
    && chmod 1777 /work/runs
ENV HOME=/home/fastbrc
USER 1000:1000
WORKDIR /work
# Runs go to runs/<env>-<time>/ under /work: mount a host directory here to keep them.
VOLUME ["/work/runs"]

ENTRYPOINT ["fastbrc"]
CMD ["train", "--env", "HumanoidWalk"]
