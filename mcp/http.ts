/**
 * MCP over Streamable HTTP at /mcp, served by every `serve` and `all` process on the API port.
 *
 * Stateless on purpose: each POST gets a fresh server and transport (no Mcp-Session-Id), built
 * from the request's token, and everything it reads or changes is in the broker. So any API
 * instance behind a load balancer can answer any request, with no sticky sessions and nothing
 * lost when an instance restarts. A request's progress and log notifications travel in its own
 * SSE response. What needs a connection that outlives a request (resource subscriptions, a
 * logging level that persists) is offered on stdio (`mcpmon mcp`), not here; GET and DELETE
 * answer 405 as the spec allows for a server without a standalone stream or sessions.
 */
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import type { ApiDeps } from "../api/deps.ts";
import { localBackend } from "./backend.ts";
import { allowedHostNames, guard, rpcError } from "./guard.ts";
import { createMcpServer } from "./server.ts";

export function mcpHttpHandler(deps: ApiDeps): (request: Request) => Promise<Response> {
  const hosts = allowedHostNames(deps.config.api);
  const patterns = deps.patterns ?? new Map();
  const { executor } = deps.config;
  return async (request) => {
    const checked = guard(request, deps.auth, hosts);
    if ("refusal" in checked) return checked.refusal;
    if (request.method !== "POST")
      return rpcError(405, -32000, `${request.method} /mcp: this server is stateless; use POST`, {
        allow: "POST",
      });
    const backend = localBackend(deps, checked.principal);
    const mcp = createMcpServer({
      backend,
      patterns,
      allowWrites: deps.config.mcp.allow_writes,
      approval: executor,
      version: deps.version,
      transport: "http",
      subscriptions: false,
    });
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      // A response stream lives for one request: no keep-alive frames, no timer left behind.
      keepAliveMs: 0,
      maxRequestBodySize: deps.config.api.max_body_bytes,
    });
    await mcp.server.connect(transport);
    let res: Response;
    try {
      res = await transport.handleRequest(request);
    } catch (err) {
      await mcp.close().catch(() => {});
      throw err;
    }
    if (!res.body) {
      await mcp.close().catch(() => {});
      return res;
    }
    // The server and transport of this request are closed once its answer has been sent.
    const closing = new TransformStream<Uint8Array, Uint8Array>({
      flush: () => void mcp.close().catch(() => {}),
    });
    return new Response(res.body.pipeThrough(closing), { status: res.status, headers: res.headers });
  };
}
