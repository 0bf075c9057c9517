import { openapi } from "@elysiajs/openapi";
import { toJsonSchema } from "@valibot/to-json-schema";
import { Elysia } from "elysia";
import cssPath from "swagger-ui-dist/swagger-ui.css" with { type: "file" };
// The Swagger UI assets are embedded in the binary (`with { type: "file" }` is bundled by
// `bun build --compile`): production hosts often cannot reach a CDN.
import bundlePath from "swagger-ui-dist/swagger-ui-bundle.js" with { type: "file" };
import { Channel } from "../core/schemas/event.ts";

const ASSETS = "/swagger/assets";

/**
 * The WebSocket, which the plugin cannot describe from the route: documented as `GET /ws` (101).
 * The document's own description only points there, and holds no double quote: the plugin pastes
 * it unescaped into the page's `<meta content="…">`.
 */
const WS_DOC = `### WebSocket: live events at \`/ws\`

Connect with \`ws://HOST:PORT/ws?token=<viewer token>\` (browsers cannot set headers; other clients may send \`Authorization: Bearer <token>\` instead). Any role that reads (viewer, operator, admin) may connect. A socket without a valid token is closed at once with code **4401** \`unauthorized\`, a token whose role may not read with **4403** \`forbidden\`.

Channels: ${Channel.options.map((c) => `\`${c}\``).join(", ")}. Every API instance sees every event (they come from the \`mcp:events\` stream).

You send:
- \`{"type":"subscribe","channel":"errors"}\`, \`{"type":"unsubscribe","channel":"errors"}\`, \`{"type":"ping"}\`

The server sends:
- \`{"type":"welcome","channels":[…]}\` on connect;
- \`{"type":"subscribed","channel":"errors"}\`, \`{"type":"unsubscribed","channel":"errors"}\`, \`{"type":"pong"}\`;
- \`{"type":"event","channel":"incidents","event":{"event_id":"…","type":"incident.status","channel":"incidents","at":"2024-05-01T12:00:00.000Z","subject":"<incident id>","data":{"from":"new","to":"analyzing"}}}\` (types such as \`incident.status\`, \`fix.status\`, \`fix.step\`, \`client.heartbeat\`, \`tokens.usage\`);
- \`{"type":"error","message":"…"}\` for a message it cannot read.

Example: \`websocat "ws://127.0.0.1:8080/ws?token=$TOKEN"\` then type \`{"type":"subscribe","channel":"errors"}\`.`;

const WS_PATH = {
  get: {
    tags: ["events"],
    summary: "WebSocket of live events (upgrade); see the description above for channels and messages",
    description: WS_DOC,
    // The token may come as ?token= instead of the header.
    security: [{}, { bearer: [] }],
    parameters: [
      {
        name: "token",
        in: "query",
        required: false,
        description: "a viewer (or higher) token, for clients that cannot send Authorization",
        schema: { type: "string" },
      },
      {
        name: "Upgrade",
        in: "header",
        required: true,
        schema: { type: "string", enum: ["websocket"] },
      },
    ],
    responses: {
      "101": {
        description:
          "Switching protocols. Without a valid token the socket is then closed with 4401 unauthorized (4403 forbidden for a role that may not read).",
      },
      "400": { description: "not a WebSocket upgrade request" },
    },
  },
};

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
            description: `Incidents, fixes, approvals, clients and queues of mcpmon. Send \`Authorization: Bearer <token>\`; roles: viewer (reads, WebSocket), reporter (only POST /errors), operator (viewer + reporter + approve, reject, ignore, pause, resume, clear), admin (+ clients). Request bodies are JSON (a body without Content-Type is read as JSON; another type is refused with 415).\n\nLive events: a WebSocket at \`ws://HOST:PORT/ws?token=TOKEN\` (a viewer token or higher), channels ${Channel.options.join(", ")}. The \`GET /ws\` operation (tag events) shows the messages to send and receive and the close codes (4401 without a valid token).`,
          },
          paths: { "/ws": WS_PATH } as never,
          tags: [{ name: "events", description: "Live events over a WebSocket: GET /ws" }],
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
