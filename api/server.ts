import type { Server } from "bun";
import type { Broker } from "../broker/types.ts";
import type { CentralConfig } from "../core/config/central.ts";
import { McpError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import type { ServicePatterns } from "../core/patterns/load.ts";
import { createApp } from "./app.ts";
import { TokenAuth } from "./auth.ts";
import { createAllowList } from "./cidr.ts";
import type { ApiDeps, ComponentStatus } from "./deps.ts";
import { EventsHub } from "./events-hub.ts";
import { HttpError } from "./http-error.ts";
import { Metrics } from "./metrics.ts";

export interface ApiOptions {
  broker: Broker;
  config: CentralConfig;
  log: Logger;
  version: string;
  components?: () => Record<string, ComponentStatus>;
  tokenStatus?: () => Promise<Record<string, unknown> | null>;
  /**
   * The loaded patterns files: `POST /errors` without a pattern id is matched against them, and an
   * unknown service (or `service_type` of `POST /clients`) is refused. Without them, anything goes.
   */
  patterns?: Map<string, ServicePatterns>;
  /**
   * The MCP endpoint at /mcp, built from the API's own dependencies (the CLI wires mcp/http.ts in:
   * the API does not import the MCP component). Absent or mcp.enabled false: no /mcp.
   */
  mcp?: (deps: ApiDeps) => (request: Request) => Promise<Response>;
  /** Override api.host / api.port (0 = any free port). */
  host?: string;
  port?: number;
}

export interface ApiHandle {
  url: string;
  port: number;
  metricsUrl: string | null;
  metrics: Metrics;
  hub: EventsHub;
  stop(): Promise<void>;
}

/**
 * The API's dependencies (auth, metrics, events hub) around a broker: what every service function
 * takes. `startApi` listens with them; `mcpmon mcp` on stdio builds them to call the same services.
 */
export function createApiDeps(opts: Omit<ApiOptions, "host" | "port" | "mcp">): ApiDeps {
  const { broker, config, log } = opts;
  const hub = new EventsHub(broker, log);
  const metrics = new Metrics({
    broker,
    streams: [
      { name: broker.keys.errors },
      { name: broker.keys.fixes },
      { name: broker.keys.events },
      { name: broker.keys.dlq },
    ],
    tokens: opts.tokenStatus,
    ...(opts.patterns ? { patterns: opts.patterns } : {}),
  });
  hub.subscribe("*", (e) => metrics.observeEvent(e.type, e.data ?? {}));
  return {
    broker,
    config,
    log,
    auth: new TokenAuth(config.api.tokens),
    metrics,
    hub,
    version: opts.version,
    startedAt: Date.now(),
    components: opts.components ?? (() => ({})),
    tokenStatus: opts.tokenStatus ?? (async () => null),
    patterns: opts.patterns,
  };
}

/** Build the API's dependencies and listen. */
export async function startApi(opts: ApiOptions): Promise<ApiHandle> {
  const { config } = opts;
  const deps = createApiDeps(opts);
  const { metrics, hub } = deps;
  let server: Server<unknown> | null = null;
  const mcp = config.mcp.enabled ? opts.mcp?.(deps) : undefined;
  const app = createApp(deps, {
    clientIp: (req) => server?.requestIP(req)?.address,
    ...(mcp ? { mcp } : {}),
  });
  const host = opts.host ?? config.api.host;
  const apiPort = opts.port ?? config.api.port;
  // reusePort (Elysia's default) would let a second instance bind the same port and silently take
  // half the requests; without it the second one fails here, loudly.
  bind("api.port", host, apiPort, () =>
    app.listen({
      hostname: host,
      port: apiPort,
      reusePort: false,
      // Bun answers bodies over this with an empty 413 of its own; up to it the app refuses bodies
      // over api.max_body_bytes with a JSON answer (app.ts), so the hard limit sits well above.
      maxRequestBodySize: config.api.max_body_bytes + BODY_SLACK,
    }),
  );
  server = app.server as Server<unknown>;
  const port = server.port ?? 0;
  let metricsServer: Server<unknown> | null = null;
  if (config.api.metrics_port) {
    // The separate metrics port obeys the same rules as /metrics on the API port: the address
    // allow list, and a viewer token unless metrics are public.
    const allow = createAllowList(config.api.allow_cidrs);
    const metricsPort = config.api.metrics_port;
    const serve = () =>
      Bun.serve({
        hostname: host,
        port: metricsPort,
        reusePort: false,
        fetch: async (req, srv) => {
          if (allow && !allow(srv.requestIP(req)?.address))
            return new Response("forbidden\n", { status: 403 });
          if (new URL(req.url).pathname !== "/metrics") return new Response("not found\n", { status: 404 });
          if (!config.api.metrics_public) {
            try {
              deps.auth.require(req.headers.get("authorization"), "viewer");
            } catch (err) {
              const status = err instanceof HttpError ? err.status : 401;
              return new Response(`${(err as Error).message}\n`, { status });
            }
          }
          return new Response(await metrics.registry.metrics(), {
            headers: { "content-type": metrics.registry.contentType },
          });
        },
      });
    try {
      metricsServer = bind("api.metrics_port", host, metricsPort, serve);
    } catch (err) {
      await app.stop(true);
      throw err;
    }
  }
  hub.start();
  const shownHost = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
  return {
    url: `http://${shownHost.includes(":") ? `[${shownHost}]` : shownHost}:${port}`,
    port,
    metricsUrl: metricsServer ? `http://${shownHost}:${metricsServer.port}/metrics` : null,
    metrics,
    hub,
    async stop() {
      await hub.stop();
      await app.stop(true);
      metricsServer?.stop(true);
    },
  };
}

/** Headroom between api.max_body_bytes and Bun's own hard limit (see `maxRequestBodySize`). */
const BODY_SLACK = 64 * 1024 * 1024;

/**
 * Listen, turning Bun's bind failure ("Failed to start server. Is port 8080 in use?") into an
 * McpError naming the config key, which the CLI prints as is (exit 1).
 */
function bind<T>(key: string, host: string, port: number, listen: () => T): T {
  try {
    return listen();
  } catch (err) {
    const code = (err as { code?: string })?.code;
    const why =
      code === "EADDRINUSE" || /in use/i.test(String((err as Error)?.message))
        ? "is already in use (another mcpmon running? stop it or choose another port)"
        : code === "EACCES"
          ? "cannot be opened: permission denied (ports below 1024 need privileges)"
          : `cannot be opened: ${(err as Error)?.message ?? String(err)}`;
    throw new McpError("CONFIG_INVALID", `${key} ${port} on ${host} ${why}`, {
      cause: err,
      details: { key, host, port },
    });
  }
}
