import { Elysia } from "elysia";
import { authPlugin } from "../auth.ts";
import type { ApiDeps } from "../deps.ts";

export function metricsRoutes(deps: ApiDeps) {
  return new Elysia({ name: "routes.metrics" }).use(authPlugin(deps.auth)).get(
    "/metrics",
    async ({ set }) => {
      set.headers["content-type"] = deps.metrics.registry.contentType;
      return deps.metrics.registry.metrics();
    },
    {
      role: deps.config.api.metrics_public ? "public" : "viewer",
      detail: { tags: ["system"], summary: "Prometheus metrics (text format)" },
    },
  );
}
