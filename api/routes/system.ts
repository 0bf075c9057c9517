import { Elysia } from "elysia";
import { authPlugin, principalOf } from "../auth.ts";
import type { ApiDeps } from "../deps.ts";
import { ClearQuery } from "../schemas.ts";
import { clearErrors, health, pause, queuesStatus, status, tokenStatus } from "../services/system.ts";

/** Health, status, queues, processing and tokens: the operator's overview. */
export function systemRoutes(deps: ApiDeps) {
  return new Elysia({ name: "routes.system" })
    .use(authPlugin(deps.auth))
    .get(
      "/health",
      async ({ set, request }) => {
        const h = await health(deps, deps.auth.allows(request.headers.get("authorization"), "viewer"));
        if (!h.broker.ok) set.status = 503;
        return h;
      },
      {
        role: "public",
        detail: {
          tags: ["system"],
          summary:
            "Status (ok, degraded, unavailable), version, uptime, broker and workers; no auth (503 when the broker is down). A viewer token adds process, broker and component detail",
        },
      },
    )
    .get("/status", () => status(deps), {
      role: "viewer",
      detail: {
        tags: ["system"],
        summary: "Components, versions, uptime, workers, paused or not, incidents by status",
      },
    })
    .get("/whoami", ({ request }) => principalOf(deps.auth, request), {
      role: "viewer",
      detail: {
        tags: ["system"],
        summary: "The token's name and role (what the operator CLI and stdio MCP act as)",
      },
    })
    .get("/queues/status", () => queuesStatus(deps), {
      role: "viewer",
      detail: {
        tags: ["queues"],
        summary: "Per stream: length, pending, lag, consumers, oldest pending age (as XINFO shows)",
      },
    })
    .post(
      "/queues/errors/clear",
      ({ query, request }) => clearErrors(deps, principalOf(deps.auth, request), query.confirm),
      {
        role: "operator",
        query: ClearQuery,
        detail: {
          tags: ["queues"],
          summary: "Remove every entry of mcp:errors (needs ?confirm=yes); says how many",
        },
      },
    )
    .post("/processing/pause", ({ request }) => pause(deps, principalOf(deps.auth, request), true), {
      role: "operator",
      detail: { tags: ["processing"], summary: "Pause analyzers and executors (they stop taking new work)" },
    })
    .post("/processing/resume", ({ request }) => pause(deps, principalOf(deps.auth, request), false), {
      role: "operator",
      detail: { tags: ["processing"], summary: "Resume processing" },
    })
    .get("/tokens/status", () => tokenStatus(deps), {
      role: "viewer",
      detail: {
        tags: ["tokens"],
        summary: "The analyzer's token budget: used and left this minute, totals, calls, cache hits, cost",
      },
    });
}
