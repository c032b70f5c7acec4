# syntax=docker/dockerfile:1.7
# Heartfelt API image: CPU-only torch, the model built in the build stage with the same `make model`
# the README uses (a prebuilt models/heartfelt-minilm in the build context is copied and kept).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    PATH=/opt/venv/bin:$PATH
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
RUN python -m venv /opt/venv \
    && pip install --index-url "${TORCH_INDEX}" "torch==2.13.0"
COPY pyproject.toml README.md Makefile ./
COPY service/ service/
COPY training/ training/
COPY models/ models/
RUN make model VENV=/opt/venv

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HEARTFELT_HOST=0.0.0.0 \
    HEARTFELT_PORT=8000 \
    HEARTFELT_MODEL_PATH=/app/models/heartfelt-minilm \
    HEARTFELT_LOG_JSON=true
RUN useradd --create-home --uid 10001 heartfelt
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=heartfelt:heartfelt /app /app
WORKDIR /app
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request as u; sys.exit(u.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"]
CMD ["heartfelt", "serve"]
