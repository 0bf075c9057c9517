import { Elysia } from "elysia";
import { authPlugin, principalOf } from "../auth.ts";
import type { ApiDeps } from "../deps.ts";
import { IdParams, IgnoreBody, ListQuery, SubmitErrorsBody } from "../schemas.ts";
import { errorStatus, listIncidents, submitErrors } from "../services/errors.ts";
import { ignoreIncident } from "../services/incidents.ts";

export function errorsRoutes(deps: ApiDeps) {
  return new Elysia({ prefix: "/errors", name: "routes.errors" })
    .use(authPlugin(deps.auth))
    .post(
      "",
      async ({ body, set, request }) => {
        set.status = 202;
        const key = request.headers.get("idempotency-key")?.slice(0, 200) || undefined;
        return submitErrors(deps, body, principalOf(deps.auth, request), key);
      },
      {
        role: "reporter",
        body: SubmitErrorsBody,
        detail: {
          tags: ["errors"],
          summary: "Submit one error or a batch (the collectors' shape); answers 202 with the ids",
        },
      },
    )
    .get("", ({ query }) => listIncidents(deps, query), {
      role: "viewer",
      query: ListQuery,
      detail: {
        tags: ["errors"],
        summary: "Incidents, filtered by status, service, host and time; paginated",
      },
    })
    .get("/:id", ({ params }) => errorStatus(deps, params.id), {
      role: "viewer",
      params: IdParams,
      detail: { tags: ["errors"], summary: "Processing status of a submitted error or an incident" },
    })
    .post(
      "/:id/ignore",
      ({ params, body, request }) =>
        ignoreIncident(deps, params.id, principalOf(deps.auth, request), body?.reason),
      {
        role: "operator",
        params: IdParams,
        body: IgnoreBody,
        detail: {
          tags: ["errors"],
          summary:
            "Ignore an incident: its events are still counted, nothing is analysed or fixed automatically",
        },
      },
    );
}
