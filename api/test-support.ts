import * as v from "valibot";
import { createEmbeddedBroker } from "../broker/index.ts";
import type { Broker } from "../broker/types.ts";
import { CentralConfig } from "../core/config/central.ts";
import { silentLogger } from "../core/log.ts";
import { createApp } from "./app.ts";
import { TokenAuth } from "./auth.ts";
import type { ApiDeps } from "./deps.ts";
import { EventsHub } from "./events-hub.ts";
import { Metrics } from "./metrics.ts";

export const TOKENS = {
  viewer: "viewer-token-123",
  reporter: "reporter-token-000",
  operator: "operator-token-456",
  admin: "admin-token-789",
};

/** Client ids the test app's config knows (as `targets`). */
export const TEST_CLIENTS = ["web-01", "db-01", "app", "c", "c1"];

/**
 * An app over an in-memory embedded broker, for route tests with `app.handle(new Request(…))`.
 * `overrides` go into the `api` config section; `deps` replace dependencies (patterns, components…).
 */
export function makeTestApp(overrides: Record<string, unknown> = {}, extra: Partial<ApiDeps> = {}) {
  const config = v.parse(CentralConfig, {
    api: {
      tokens: [
        { name: "vera", token: TOKENS.viewer, role: "viewer" },
        { name: "rory", token: TOKENS.reporter, role: "reporter" },
        { name: "otto", token: TOKENS.operator, role: "operator" },
        { name: "ada", token: TOKENS.admin, role: "admin" },
      ],
      max_body_bytes: 65536,
      ...overrides,
    },
    // POST /errors takes events only for configured or registered clients.
    targets: Object.fromEntries(TEST_CLIENTS.map((id) => [id, { host: "127.0.0.1" }])),
  });
  const broker: Broker = createEmbeddedBroker({ path: ":memory:" });
  const metrics = new Metrics({ broker, streams: [{ name: broker.keys.errors }] });
  const hub = new EventsHub(broker, silentLogger);
  const deps: ApiDeps = {
    broker,
    config,
    log: silentLogger,
    auth: new TokenAuth(config.api.tokens),
    metrics,
    hub,
    version: "test",
    startedAt: Date.now(),
    components: () => ({ analyzers: { running: true, workers: 3 } }),
    tokenStatus: async () => ({ used_this_minute: 0 }),
    ...extra,
  };
  const app = createApp(deps, { clientIp: () => "127.0.0.1" });
  const call = async (
    method: string,
    path: string,
    opts: {
      token?: string;
      body?: unknown;
      raw?: string | Uint8Array | ReadableStream<Uint8Array>;
      headers?: Record<string, string>;
    } = {},
  ) => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    let body: string | Uint8Array | ReadableStream<Uint8Array> | undefined;
    if (opts.raw !== undefined) body = opts.raw;
    else if (opts.body !== undefined) body = JSON.stringify(opts.body);
    // A string body is sent as JSON with its length, like curl would; bytes and streams as given.
    if (typeof body === "string") {
      if (!("content-type" in headers)) headers["content-type"] = "application/json";
      headers["content-length"] = String(Buffer.byteLength(body));
    }
    const res = await app.handle(
      new Request(`http://localhost${path}`, { method, headers, body, duplex: "half" } as RequestInit),
    );
    const text = await res.text();
    let json: any = null;
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
    return { status: res.status, json, text, headers: res.headers };
  };
  return { app, deps, broker, call };
}
