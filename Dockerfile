# syntax=docker/dockerfile:1
# Build stage: uv resolves exactly what uv.lock says (the same `uv sync --frozen` CI runs natively).
FROM python:3.12-slim AS build
COPY --from=ghcr.io/astral-sh/uv:0.9 /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
WORKDIR /app
# `--extra cuda` instead of `--extra cpu` for ONNX Runtime's CUDA build (see docs/models-and-runtimes.md).
# `convert` (NNCF) builds the int8 OpenVINO IR that `auto` runs on AVX-512 CPUs, at first start or in
# the `download-weights` profile; drop it only if the IR is built elsewhere (+172 MB).
ARG EXTRAS="--extra cpu --extra convert"
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project $EXTRAS
COPY gigaam_api ./gigaam_api
RUN uv sync --frozen --no-dev $EXTRAS
# Qwen3-ASR (not in the default image): EXTRAS="--extra cpu --extra convert --extra qwen" plus a torch
# build, which the lock leaves out: TORCH_INDEX=https://download.pytorch.org/whl/cpu (or .../cu128).
ARG TORCH_INDEX=""
RUN if [ -n "$TORCH_INDEX" ]; then \
      uv pip install --no-config --python .venv/bin/python --index-url "$TORCH_INDEX" torch; fi

# Final stage: the virtualenv and the package, no compilers, no uv, non-root.
FROM python:3.12-slim
RUN useradd --create-home --uid 10001 app && mkdir -p /models /data && chown app /models /data
WORKDIR /app
COPY --from=build --chown=app /app /app
ENV PATH=/app/.venv/bin:$PATH \
    HOST=0.0.0.0 PORT=8000 MODELS_DIR=/models SPOOL_DIR=/tmp/gigaam-api-spool JOBS_DIR=/data/jobs PYTHONUNBUFFERED=1
USER app
VOLUME ["/models", "/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=600s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\", \"8000\")}/ready', timeout=4)"]
CMD ["gigaam-api", "serve"]
