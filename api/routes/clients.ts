import { Elysia } from "elysia";
import { authPlugin } from "../auth.ts";
import type { ApiDeps } from "../deps.ts";
import { IdParams, RegisterClientBody } from "../schemas.ts";
import { clientStatus, deleteClient, listClients, registerClient } from "../services/system.ts";

export function clientsRoutes(deps: ApiDeps) {
  return new Elysia({ prefix: "/clients", name: "routes.clients" })
    .use(authPlugin(deps.auth))
    .post(
      "",
      async ({ body, set }) => {
        set.status = 201;
        return registerClient(deps, body);
      },
      {
        role: "admin",
        body: RegisterClientBody,
        detail: { tags: ["clients"], summary: "Register a client (collector host)" },
      },
    )
    .get("", () => listClients(deps), {
      role: "viewer",
      detail: { tags: ["clients"], summary: "List clients" },
    })
    .get("/:id/status", ({ params }) => clientStatus(deps, params.id), {
      role: "viewer",
      params: IdParams,
      detail: { tags: ["clients"], summary: "Health, last heartbeat, lag and spool depth of a client" },
    })
    .delete("/:id", ({ params }) => deleteClient(deps, params.id), {
      role: "admin",
      params: IdParams,
      detail: { tags: ["clients"], summary: "Remove a client" },
    });
}
