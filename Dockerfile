# syntax=docker/dockerfile:1
# The server as users run it: `assistants serve`, data (SQLite, the assembled Gemma model, KV caches) in a volume at /data.

# --- build: wheels for the package and its dependencies (llama-cpp-python compiles llama.cpp here) ---
FROM python:3.11-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake git \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[postgres]'

# --- runtime: no compilers, a non-root user ---
FROM python:3.11-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 1000 assistants \
 && mkdir /data && chown assistants:assistants /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels 'assistants[postgres]' && rm -rf /wheels
USER assistants
ENV ASSISTANTS_DATA_DIR=/data \
    ASSISTANTS_HOST=0.0.0.0 \
    ASSISTANTS_PORT=8000 \
    PYTHONUNBUFFERED=1
VOLUME ["/data"]
EXPOSE 8000
# The first start loads the default model (SmolLM2, read from its package; Gemma 3 is assembled into /data on
# its first use): give it time before counting failures.
HEALTHCHECK --interval=10s --timeout=5s --start-period=180s --retries=3 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"
CMD ["assistants", "serve"]
