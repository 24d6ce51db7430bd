# syntax=docker/dockerfile:1
# Build stage: a wheel and its dependencies in a virtual environment.
FROM python:3.12-slim AS build
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH"
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir .

# Runtime stage: slim, non-root, state under /data.
FROM python:3.12-slim
LABEL io.modelcontextprotocol.server.name="io.github.persona-mcp/persona-mcp"
LABEL org.opencontainers.image.title="persona-mcp" \
      org.opencontainers.image.description="MCP server for the Persona API with least-privilege grants and a tamper-evident audit log" \
      org.opencontainers.image.licenses="Apache-2.0"
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
ENTRYPOINT ["persona-mcp"]
CMD ["serve", "--transport", "http", "--host", "0.0.0.0", "--port", "8000"]
