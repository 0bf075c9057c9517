/**
 * The checks in front of /mcp, before the SDK sees a byte: DNS-rebinding protection (a web page
 * served by attacker.example that resolves to 127.0.0.1 would otherwise drive the operator's MCP
 * server from their own browser) and the API's bearer tokens and roles. api.allow_cidrs and the
 * body limit are applied by the API app for every path, /mcp included.
 */
import type { Principal, TokenAuth } from "../api/auth.ts";
import { hasRole } from "../api/auth.ts";
import type { CentralConfig } from "../core/config/central.ts";

const ALWAYS = ["localhost", "127.0.0.1", "::1"];
const WILDCARDS = new Set(["0.0.0.0", "::", ""]);

/** The host names /mcp answers to: loopback, api.host unless a wildcard, and api.host_names. */
export function allowedHostNames(api: CentralConfig["api"]): Set<string> {
  const names = [...ALWAYS, ...api.host_names];
  if (!WILDCARDS.has(api.host)) names.push(api.host);
  return new Set(names.map((n) => n.toLowerCase().replace(/^\[|\]$/g, "")));
}

function hostnameOf(value: string, withScheme: boolean): string | null {
  try {
    return new URL(withScheme ? value : `http://${value}`).hostname.toLowerCase().replace(/^\[|\]$/g, "");
  } catch {
    return null;
  }
}

/** A JSON-RPC error answer with an HTTP status, as the Streamable HTTP transport answers. */
export function rpcError(
  status: number,
  code: number,
  message: string,
  headers: Record<string, string> = {},
) {
  return new Response(JSON.stringify({ jsonrpc: "2.0", error: { code, message }, id: null }), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/**
 * The principal of a request to /mcp, or the refusal to answer: 403 for a Host or Origin that is
 * not one of ours (the spec: an invalid Origin MUST get 403), 401 with WWW-Authenticate without a
 * valid token, 403 for a token that may not read (a reporter).
 */
export function guard(
  request: Request,
  auth: TokenAuth,
  hosts: Set<string>,
): { principal: Principal } | { refusal: Response } {
  const host = request.headers.get("host");
  const hostName = host ? hostnameOf(host, false) : null;
  if (!hostName || !hosts.has(hostName))
    return {
      refusal: rpcError(
        403,
        -32000,
        `Host ${JSON.stringify(host ?? "")} is not one of the API's host names (add it to api.host_names)`,
      ),
    };
  const origin = request.headers.get("origin");
  if (origin !== null) {
    const originName = origin === "null" ? null : hostnameOf(origin, true);
    if (!originName || !hosts.has(originName))
      return {
        refusal: rpcError(
          403,
          -32000,
          `Origin ${JSON.stringify(origin)} is not one of the API's host names (add it to api.host_names)`,
        ),
      };
  }
  const header = request.headers.get("authorization");
  const principal = auth.identify(header);
  if (!principal) {
    const given = header !== null;
    return {
      refusal: rpcError(401, -32001, "a valid bearer token is required (the API's api.tokens)", {
        "www-authenticate": `Bearer realm="mcpmon"${given ? ', error="invalid_token"' : ""}`,
      }),
    };
  }
  if (!hasRole(principal, "viewer"))
    return {
      refusal: rpcError(
        403,
        -32001,
        `the token "${principal.name}" has the ${principal.role} role, which may not read`,
      ),
    };
  return { principal };
}
