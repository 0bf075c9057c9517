import { Elysia } from "elysia";
import { authPlugin, principalOf } from "../auth.ts";
import type { ApiDeps } from "../deps.ts";
import { ApproveBody, FixListQuery, IdParams, RejectBody } from "../schemas.ts";
import { approveFix, getFix, listFixes, rejectFix } from "../services/fixes.ts";

export function fixesRoutes(deps: ApiDeps) {
  return new Elysia({ prefix: "/fixes", name: "routes.fixes" })
    .use(authPlugin(deps.auth))
    .get("", ({ query }) => listFixes(deps, query), {
      role: "viewer",
      query: FixListQuery,
      detail: { tags: ["fixes"], summary: "Fixes, filtered by status, service, host; paginated" },
    })
    .get("/:id", ({ params }) => getFix(deps, params.id), {
      role: "viewer",
      params: IdParams,
      detail: { tags: ["fixes"], summary: "One fix: actions, risk, approval, every step with its output" },
    })
    .post(
      "/:id/approve",
      ({ params, body, request }) => approveFix(deps, params.id, principalOf(deps.auth, request), body ?? {}),
      {
        role: "operator",
        params: IdParams,
        body: ApproveBody,
        detail: {
          tags: ["fixes"],
          summary: "Approve a fix awaiting approval; it is queued for the executors",
        },
      },
    )
    .post(
      "/:id/reject",
      ({ params, body, request }) => rejectFix(deps, params.id, principalOf(deps.auth, request), body.reason),
      {
        role: "operator",
        params: IdParams,
        body: RejectBody,
        detail: { tags: ["fixes"], summary: "Reject a fix awaiting approval, with a reason" },
      },
    );
}
