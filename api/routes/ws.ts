import { Elysia } from "elysia";
import * as v from "valibot";
import { Channel } from "../../core/schemas/event.ts";
import type { ApiDeps } from "../deps.ts";
import { HttpError } from "../http-error.ts";

const ClientMessage = v.variant("type", [
  v.object({ type: v.literal("subscribe"), channel: Channel }),
  v.object({ type: v.literal("unsubscribe"), channel: Channel }),
  v.object({ type: v.literal("ping") }),
]);

interface Socket {
  id: string;
  send(data: string): unknown;
  close(): unknown;
}

/**
 * `WS /ws`: `{"type":"subscribe","channel":"errors"}` as in the product description; channels
 * errors, incidents, fixes, clients, tokens (and system). The token comes in the Authorization
 * header or, for browsers that cannot set headers, as `?token=`.
 */
export function wsRoutes(deps: ApiDeps) {
  const subscriptions = new Map<string, Map<string, () => void>>();

  const unsubscribeAll = (id: string) => {
    for (const off of subscriptions.get(id)?.values() ?? []) off();
    subscriptions.delete(id);
  };

  return new Elysia({ name: "routes.ws" }).ws("/ws", {
    beforeHandle({ request }) {
      const url = new URL(request.url, "http://localhost");
      const header =
        request.headers.get("authorization") ??
        (url.searchParams.get("token") ? `Bearer ${url.searchParams.get("token")}` : null);
      deps.auth.require(header, "viewer");
    },
    open(ws) {
      subscriptions.set(ws.id, new Map());
      ws.send(JSON.stringify({ type: "welcome", channels: Channel.options }));
    },
    message(ws, raw) {
      const socket = ws as unknown as Socket;
      let parsed: unknown = raw;
      if (typeof raw === "string") {
        try {
          parsed = JSON.parse(raw);
        } catch {
          socket.send(JSON.stringify({ type: "error", message: "messages must be JSON" }));
          return;
        }
      }
      const msg = v.safeParse(ClientMessage, parsed);
      if (!msg.success) {
        socket.send(
          JSON.stringify({
            type: "error",
            message: `expected {"type":"subscribe","channel":one of ${Channel.options.join(", ")}}`,
          }),
        );
        return;
      }
      const subs = subscriptions.get(socket.id) ?? new Map<string, () => void>();
      subscriptions.set(socket.id, subs);
      const m = msg.output;
      if (m.type === "ping") socket.send(JSON.stringify({ type: "pong" }));
      else if (m.type === "subscribe") {
        if (!subs.has(m.channel)) {
          subs.set(
            m.channel,
            deps.hub.subscribe(m.channel, (event) =>
              socket.send(JSON.stringify({ type: "event", channel: event.channel, event })),
            ),
          );
        }
        socket.send(JSON.stringify({ type: "subscribed", channel: m.channel }));
      } else {
        subs.get(m.channel)?.();
        subs.delete(m.channel);
        socket.send(JSON.stringify({ type: "unsubscribed", channel: m.channel }));
      }
    },
    close(ws) {
      unsubscribeAll(ws.id);
    },
  });
}

export { HttpError };
