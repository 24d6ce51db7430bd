# syntax=docker/dockerfile:1
# The base image is pinned by digest (the multi-arch index of python:3.12-slim), so a rebuild gets the
# same system libraries. To move to a newer one:
#   docker buildx imagetools inspect python:3.12-slim   # prints the index digest
# and replace BASE below (tests/test_packaging.py checks both stages use it).
ARG BASE=python:3.12-slim@sha256:78387bc3881b8273120a12ebe6c1ab22b018ccc2c9adf565ae1ac9b536e184ea

# Build stage: a wheel and its dependencies in a virtual environment.
FROM ${BASE} AS build
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH"
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir .

# Runtime stage: slim, non-root, state under /data.
FROM ${BASE}
# Set by the release build: docker build --build-arg VERSION=... --build-arg REVISION=$(git rev-parse HEAD)
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL io.modelcontextprotocol.server.name="io.github.persona-mcp/persona-mcp"
LABEL org.opencontainers.image.title="persona-mcp" \
      org.opencontainers.image.description="MCP server for the Persona API with least-privilege grants and a tamper-evident audit log" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/persona-mcp/persona-mcp" \
      org.opencontainers.image.url="https://github.com/persona-mcp/persona-mcp" \
      org.opencontainers.image.documentation="https://github.com/persona-mcp/persona-mcp/blob/main/docs/docker.md"
RUN groupadd --system --gid 10001 persona \
 && useradd --system --uid 10001 --gid persona --home-dir /data --no-create-home persona \
 && mkdir -p /data && chown persona:persona /data && chmod 700 /data
COPY --from=build /opt/venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH" \
    PERSONA_MCP_DATA_DIR=/data \
    PYTHONUNBUFFERED=1
VOLUME ["/data"]
USER persona
EXPOSE 8000
# /healthz answers 503 only when the audit log cannot be written (then no call can be served); a
# `degraded` server (a start-up warning, a SIEM sink down) still answers 200 and stays in rotation.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["persona-mcp"]
CMD ["serve", "--transport", "http", "--host", "0.0.0.0", "--port", "8000"]
