# mcpmon in a container: one self-contained binary on a slim Debian, run as a non-root user.
#
#   docker build -t mcpmon .
#   docker run --rm -p 8080:8080 -e MCP_ADMIN_TOKEN=… mcpmon            # mcpmon serve (needs Redis:
#                                                                       # set MCP_BROKER_URL) …
#   docker run --rm mcpmon all --config /etc/mcpmon/mcp-config.yml     # … or everything, embedded broker
#
# docker-compose.yml runs the scaled-out layout (Redis, serve, analyze, execute, collectors).

# ---- build: the official Bun image compiles dist/mcpmon (bun build --compile, see scripts/build.sh)
FROM oven/bun:1.4.5 AS build
WORKDIR /src
# Dependencies first, so a source change does not re-download them. Only the runtime dependencies:
# the compiler bundles them into the binary; dev tools (tsc, biome, playwright-core) are not needed.
# package-lock.json is the lockfile; --frozen-lockfile refuses to build if package.json disagrees.
COPY package.json package-lock.json bunfig.toml ./
RUN bun install --frozen-lockfile --production
COPY . .
# The binary must start, or the image is useless: `version` loads no config and touches no network.
RUN bash scripts/build.sh && ./dist/mcpmon version

# ---- run: glibc like the build image (a compiled Bun binary needs glibc, not musl)
FROM debian:bookworm-slim
# ca-certificates: the Claude API and rediss:// are TLS. Nothing else: SSH is pure JavaScript (ssh2).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 mcpmon \
 && useradd --system --uid 10001 --gid mcpmon --home-dir /var/lib/mcpmon --shell /usr/sbin/nologin mcpmon \
 && install -d -o mcpmon -g mcpmon -m 0750 /var/lib/mcpmon
COPY --from=build /src/dist/mcpmon /usr/local/bin/mcpmon
# The patterns are also embedded in the binary; the files are here to be read and overridden
# (mount your own folder on /usr/share/mcpmon/patterns).
COPY patterns/ /usr/share/mcpmon/patterns/
COPY configs/ /etc/mcpmon/
ENV MCP_PATTERNS_DIR=/usr/share/mcpmon/patterns \
    MCP_API_HOST=0.0.0.0 \
    MCP_STATE_DIR=/var/lib/mcpmon
# Relative paths of the configs resolve here: .data/ (embedded broker), ssh-keys/ (fix executor).
WORKDIR /var/lib/mcpmon
USER mcpmon
VOLUME ["/var/lib/mcpmon"]
# 8080: API, Swagger UI, WebSocket; 9090: /metrics when api.metrics_port is set.
EXPOSE 8080 9090
# No curl in the image: bash's /dev/tcp sends GET /health and expects 200. Collector, analyzer and
# executor containers have no API; docker-compose.yml disables the check for them.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${MCP_API_PORT:-8080} && printf 'GET /health HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["/usr/local/bin/mcpmon"]
CMD ["serve", "--config", "/etc/mcpmon/mcp-config.yml"]
