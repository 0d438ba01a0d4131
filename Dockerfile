# fastbrc on an NVIDIA GPU: docker build -t fastbrc . && docker run --gpus all -v "$PWD/runs:/runs" fastbrc
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    XLA_PYTHON_CLIENT_PREALLOCATE=false \
    MUJOCO_GL=egl \
    PYOPENGL_PLATFORM=egl

RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv git ca-certificates \
       libegl1 libgl1 libglvnd0 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=ghcr.io/astral-sh/uv:0.9 /uv /usr/local/bin/uv

WORKDIR /app
# Dependencies first (cached while only the source changes).
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --extra cuda --no-install-project --python /usr/bin/python3
# MuJoCo Menagerie meshes for G1/T1/H1, fetched now so runs work offline.
RUN python -c "from mujoco_playground._src import mjx_env; mjx_env.ensure_menagerie_exists()"

COPY fastbrc ./fastbrc
COPY envs ./envs
RUN uv sync --frozen --no-dev --extra cuda --no-editable --python /usr/bin/python3

RUN useradd --create-home fastbrc && mkdir -p /runs && chown fastbrc /runs
USER fastbrc
WORKDIR /runs
VOLUME ["/runs"]
ENTRYPOINT ["fastbrc"]
CMD ["train", "--env", "HumanoidWalk", "--impl", "jax"]
