import type { Server } from "bun";
import type { Broker } from "../broker/types.ts";
import type { CentralConfig } from "../core/config/central.ts";
import type { Logger } from "../core/log.ts";
import { createApp } from "./app.ts";
import { TokenAuth } from "./auth.ts";
import { createAllowList } from "./cidr.ts";
import type { ComponentStatus } from "./deps.ts";
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

/** Build the API's dependencies (auth, metrics, events hub) and listen. */
export async function startApi(opts: ApiOptions): Promise<ApiHandle> {
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
  });
  hub.subscribe("*", (e) => metrics.observeEvent(e.type, e.data ?? {}));
  hub.start();
  const deps = {
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
  };
  let server: Server<unknown> | null = null;
  const app = createApp(deps, { clientIp: (req) => server?.requestIP(req)?.address });
  const host = opts.host ?? config.api.host;
  app.listen({
    hostname: host,
    port: opts.port ?? config.api.port,
    maxRequestBodySize: config.api.max_body_bytes,
  });
  server = app.server as Server<unknown>;
  const port = server.port ?? 0;
  let metricsServer: Server<unknown> | null = null;
  if (config.api.metrics_port) {
    // The separate metrics port obeys the same rules as /metrics on the API port: the address
    // allow list, and a viewer token unless metrics are public.
    const allow = createAllowList(config.api.allow_cidrs);
    metricsServer = Bun.serve({
      hostname: host,
      port: config.api.metrics_port,
      fetch: async (req, srv) => {
        if (allow && !allow(srv.requestIP(req)?.address)) return new Response("forbidden\n", { status: 403 });
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
  }
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
