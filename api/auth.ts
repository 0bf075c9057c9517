import { createHash, timingSafeEqual } from "node:crypto";
import { Elysia } from "elysia";
import { HttpError } from "./http-error.ts";

/**
 * viewer: reads and WebSocket; reporter: only submits errors (`POST /errors`, for applications
 * that report what they see); operator: viewer + reporter + approve, reject, ignore, pause,
 * resume, clear; admin: everything, including clients.
 */
export type Role = "viewer" | "reporter" | "operator" | "admin";
const GRANTS: Record<Role, readonly Role[]> = {
  viewer: ["viewer"],
  reporter: ["reporter"],
  operator: ["viewer", "reporter", "operator"],
  admin: ["viewer", "reporter", "operator", "admin"],
};

/**
 * Whether a principal's role includes `need`: the one rule of who may do what, shared by the REST
 * routes (the `role` macro), the MCP tools and the WebSocket.
 */
export function hasRole(principal: Principal, need: Role): boolean {
  return GRANTS[principal.role].includes(need);
}

/** Throws 403 naming both roles when the principal's role does not include `need`. */
export function requireRole(principal: Principal, need: Role): Principal {
  if (!hasRole(principal, need))
    throw new HttpError(403, "forbidden", `this needs the ${need} role; the token has ${principal.role}`);
  return principal;
}

export interface TokenEntry {
  name: string;
  token: string;
  role: Role;
  /** A reporter bound to these client ids may only report errors for them. */
  clients?: string[];
}

export interface Principal {
  name: string;
  role: Role;
  /** Client ids the token may report for; absent: any known client. */
  clients?: string[];
}

/**
 * Bearer tokens from the config. Tokens are compared in constant time: each candidate is hashed
 * and every configured digest is compared with timingSafeEqual, so neither the length nor the
 * position of the first wrong byte leaks. Tokens are never logged.
 */
export class TokenAuth {
  private readonly entries: Array<{ digest: Buffer; principal: Principal }>;

  constructor(tokens: TokenEntry[]) {
    this.entries = tokens
      .filter((t) => t.token.length > 0)
      .map((t) => ({
        digest: digest(t.token),
        principal: { name: t.name, role: t.role, ...(t.clients ? { clients: [...t.clients] } : {}) },
      }));
  }

  /** The principal of an `Authorization: Bearer …` header, or null. */
  identify(header: string | null | undefined): Principal | null {
    const m = /^Bearer[ \t]+(\S{1,4096})[ \t]*$/i.exec(header ?? "");
    if (!m) return null;
    const candidate = digest(m[1]!);
    let found: Principal | null = null;
    for (const e of this.entries) {
      // No early exit: every entry is compared whatever matched before.
      if (timingSafeEqual(candidate, e.digest)) found = e.principal;
    }
    return found;
  }

  /** Whether the header carries a valid token whose role includes `need`. */
  allows(header: string | null | undefined, need: Role): boolean {
    const principal = this.identify(header);
    return principal !== null && hasRole(principal, need);
  }

  /** Throws 401 without a valid token, 403 when the role is below `need`. */
  require(header: string | null | undefined, need: Role): Principal {
    const principal = this.identify(header);
    if (!principal) throw new HttpError(401, "unauthorized", "a valid bearer token is required");
    return requireRole(principal, need);
  }
}

function digest(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}

/**
 * The `role` macro: `{ role: "operator" }` on a route checks the role before the body is
 * validated (transform hook). `role: "public"` skips the check. Anonymous requests are already
 * refused in `onRequest` (see app.ts), before the body is even parsed.
 */
export function authPlugin(auth: TokenAuth) {
  return new Elysia({ name: "mcpmon.auth", seed: auth }).macro({
    role: (need: Role | "public") => ({
      transform({ request }: { request: Request }) {
        if (need !== "public") auth.require(request.headers.get("authorization"), need);
      },
    }),
  });
}

/** The caller's principal inside a handler (the macro has already checked it). */
export function principalOf(auth: TokenAuth, request: Request): Principal {
  return auth.identify(request.headers.get("authorization")) ?? { name: "anonymous", role: "viewer" };
}
