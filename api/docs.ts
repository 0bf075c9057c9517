import { openapi } from "@elysiajs/openapi";
import { toJsonSchema } from "@valibot/to-json-schema";
import { Elysia } from "elysia";
import cssPath from "swagger-ui-dist/swagger-ui.css" with { type: "file" };
// The Swagger UI assets are embedded in the binary (`with { type: "file" }` is bundled by
// `bun build --compile`): production hosts often cannot reach a CDN.
import bundlePath from "swagger-ui-dist/swagger-ui-bundle.js" with { type: "file" };

const ASSETS = "/swagger/assets";

/** Interactive Swagger UI at /swagger and the OpenAPI document at /swagger/json, no CDN. */
export function docsPlugin(version: string) {
  return new Elysia({ name: "docs" })
    .get(`${ASSETS}/swagger-ui-bundle.js`, () => asset(bundlePath, "text/javascript; charset=utf-8"), {
      detail: { hide: true },
    })
    .get(`${ASSETS}/swagger-ui.css`, () => asset(cssPath, "text/css; charset=utf-8"), {
      detail: { hide: true },
    })
    .use(
      openapi({
        provider: "swagger-ui",
        path: "/swagger",
        specPath: "/swagger/json",
        mapJsonSchema: { valibot: toJsonSchema },
        exclude: { paths: [`${ASSETS}/swagger-ui-bundle.js`, `${ASSETS}/swagger-ui.css`, "/ws"] },
        documentation: {
          info: {
            title: "mcpmon API",
            version,
            description:
              "Incidents, fixes, approvals, clients and queues of mcpmon. Send `Authorization: Bearer <token>`; roles: viewer (reads, WebSocket), reporter (only POST /errors), operator (viewer + reporter + approve, reject, ignore, pause, resume, clear), admin (+ clients).",
          },
          components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
          security: [{ bearer: [] }],
        },
        swagger: {
          cdn: `${ASSETS}/swagger-ui-bundle.js`,
          theme: `${ASSETS}/swagger-ui.css`,
          autoDarkMode: false,
        },
      }),
    );
}

function asset(path: string, type: string): Response {
  return new Response(Bun.file(path), {
    headers: { "content-type": type, "cache-control": "public, max-age=86400" },
  });
}
