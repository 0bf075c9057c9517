/**
 * `mcpmon mcp`: the MCP server on stdio, for a desktop client's config. Two ways to reach the data:
 * - the API of a running server (MCP_API_URL or --api, token from MCP_TOKEN or the credentials
 *   file): every call goes through the REST routes, so the server's config (mcp.allow_writes,
 *   roles, policy bounds) and its services decide; events for subscriptions come over its /ws;
 * - the configured broker, opened here (--config): the services run in this process, as the token
 *   given in MCP_TOKEN (matched against api.tokens), or as a viewer without one.
 * One connection lives as long as the client keeps stdin open, so this side offers resource
 * subscriptions and keeps the logging level. stdout carries only JSON-RPC; logs go to stderr.
 */
import { userInfo } from "node:os";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import type { Principal, Role } from "../api/auth.ts";
import type { ApiClient } from "../api/client.ts";
import { createApiDeps } from "../api/server.ts";
import type { Broker } from "../broker/types.ts";
import type { CentralConfig } from "../core/config/central.ts";
import type { Logger } from "../core/log.ts";
import type { ServicePatterns } from "../core/patterns/load.ts";
import type { ApprovalSettings } from "../core/policy/approval.ts";
import type { McpEvent } from "../core/schemas/event.ts";
import { type Backend, type EventSource, localBackend, remoteBackend } from "./backend.ts";
import { createMcpServer } from "./server.ts";

export interface RemoteOptions {
  api: ApiClient;
  token: string;
  patterns: Map<string, ServicePatterns>;
  version: string;
  log: Logger;
}

/** Serve stdio against a running server's API; resolves when the client closes stdin. */
export async function serveStdioRemote(o: RemoteOptions): Promise<void> {
  // Who the token is and what the server allows, asked once: a wrong URL or token fails here,
  // with the reason on stderr and exit 1, rather than on the client's first call.
  const principal = await o.api.get<Principal>("/whoami");
  const st = await o.api.get<{
    mcp?: { allow_writes?: boolean };
    executor?: Partial<ApprovalSettings>;
  }>("/status");
  const approval: ApprovalSettings | undefined = st.executor?.auto_approve_max_risk
    ? {
        auto_approve_max_risk: st.executor.auto_approve_max_risk,
        auto_approve_model_max_risk: st.executor.auto_approve_model_max_risk ?? "none",
      }
    : undefined;
  const events = wsEvents(o.api.url, o.token, o.log);
  const backend = remoteBackend(o.api, principal, events);
  await run(backend, {
    patterns: o.patterns,
    allowWrites: st.mcp?.allow_writes === true,
    ...(approval ? { approval } : {}),
    version: o.version,
  });
  events.close();
}

export interface LocalOptions {
  broker: Broker;
  config: CentralConfig;
  patterns: Map<string, ServicePatterns>;
  token?: string;
  version: string;
  log: Logger;
}

/** Serve stdio with the services running here on the configured broker. */
export async function serveStdioLocal(o: LocalOptions): Promise<void> {
  const deps = createApiDeps({
    broker: o.broker,
    config: o.config,
    log: o.log,
    version: o.version,
    patterns: o.patterns,
  });
  let principal: Principal = { name: `stdio:${userInfo().username}`, role: "viewer" as Role };
  if (o.token) {
    const found = deps.auth.identify(`Bearer ${o.token}`);
    if (!found) throw new Error("MCP_TOKEN is not one of the config's api.tokens");
    principal = found;
  }
  deps.hub.start();
  try {
    await run(localBackend(deps, principal), {
      patterns: o.patterns,
      allowWrites: o.config.mcp.allow_writes,
      approval: o.config.executor,
      version: o.version,
    });
  } finally {
    await deps.hub.stop();
  }
}

async function run(
  backend: Backend,
  o: {
    patterns: Map<string, ServicePatterns>;
    allowWrites: boolean;
    approval?: ApprovalSettings;
    version: string;
  },
): Promise<void> {
  const mcp = createMcpServer({ backend, ...o, transport: "stdio", subscriptions: true });
  const transport = new StdioServerTransport();
  await new Promise<void>((resolve, reject) => {
    mcp.server.onclose = resolve;
    // The SDK's stdio transport does not notice the end of stdin: a client that exits closes it.
    process.stdin.once("end", () => void transport.close());
    mcp.server.connect(transport).catch(reject);
  });
  await mcp.close().catch(() => {});
}

/**
 * `mcp:events` of a remote server through its WebSocket: connected on the first subscriber,
 * reconnected after a drop (every 2 s), so subscriptions survive a server restart.
 */
function wsEvents(apiUrl: string, token: string, log: Logger): EventSource & { close(): void } {
  const listeners = new Set<(e: McpEvent) => void>();
  let ws: WebSocket | null = null;
  let stopped = false;
  const connect = () => {
    if (stopped || ws) return;
    const url = `${apiUrl.replace(/^http/, "ws")}/ws`;
    const sock = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } } as never);
    ws = sock;
    sock.onopen = () => {
      for (const channel of ["incidents", "fixes", "errors"])
        sock.send(JSON.stringify({ type: "subscribe", channel }));
    };
    sock.onmessage = (m) => {
      try {
        const msg = JSON.parse(String(m.data)) as { type?: string; event?: McpEvent };
        if (msg.type === "event" && msg.event) for (const fn of listeners) fn(msg.event);
      } catch {
        // Not ours to fix: the server sends JSON.
      }
    };
    sock.onclose = () => {
      ws = null;
      if (!stopped && listeners.size > 0) {
        log.warn({ url }, "events socket closed; reconnecting in 2 s");
        setTimeout(connect, 2000);
      }
    };
  };
  return {
    subscribe(fn) {
      listeners.add(fn);
      connect();
      return () => listeners.delete(fn);
    },
    close() {
      stopped = true;
      ws?.close();
    },
  };
}
