import { Elysia } from "elysia";
import * as v from "valibot";
import { Channel } from "../../core/schemas/event.ts";
import type { ApiDeps } from "../deps.ts";

const ClientMessage = v.variant("type", [
  v.object({ type: v.literal("subscribe"), channel: Channel }),
  v.object({ type: v.literal("unsubscribe"), channel: Channel }),
  v.object({ type: v.literal("ping") }),
]);

interface Socket {
  id: string;
  send(data: string): unknown;
  close(code?: number, reason?: string): unknown;
}

/** Close codes of refused sockets: a browser sees these, never the HTTP status of a failed upgrade. */
export const WS_UNAUTHORIZED = 4401;
export const WS_FORBIDDEN = 4403;

/** The token of a WebSocket request: the Authorization header or, for browsers, `?token=`. */
function tokenHeader(request: Request): string | null {
  const url = new URL(request.url, "http://localhost");
  const token = url.searchParams.get("token");
  return request.headers.get("authorization") ?? (token ? `Bearer ${token}` : null);
}

/**
 * `WS /ws`: `{"type":"subscribe","channel":"errors"}` as in the product description; channels
 * errors, incidents, fixes, clients, tokens (and system). The token comes in the Authorization
 * header or, for browsers that cannot set headers, as `?token=`. The upgrade is always accepted
 * and a socket without a valid viewer token is closed at once with 4401 "unauthorized" (4403
 * "forbidden" for a role that may not read), before anything is sent: a refused upgrade would reach
 * a browser only as an unexplained 1006.
 */
export function wsRoutes(deps: ApiDeps) {
  const subscriptions = new Map<string, Map<string, () => void>>();

  const unsubscribeAll = (id: string) => {
    for (const off of subscriptions.get(id)?.values() ?? []) off();
    subscriptions.delete(id);
  };

  return new Elysia({ name: "routes.ws" }).ws("/ws", {
    open(ws) {
      const socket = ws as unknown as Socket;
      const request = (ws.data as { request?: Request }).request;
      const header = request ? tokenHeader(request) : null;
      if (!deps.auth.identify(header)) return void socket.close(WS_UNAUTHORIZED, "unauthorized");
      if (!deps.auth.allows(header, "viewer")) return void socket.close(WS_FORBIDDEN, "forbidden");
      subscriptions.set(ws.id, new Map());
      ws.send(JSON.stringify({ type: "welcome", channels: Channel.options }));
    },
    message(ws, raw) {
      const socket = ws as unknown as Socket;
      if (!subscriptions.has(socket.id)) return;
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
      // Only sockets that passed the token check in open() have an entry.
      const subs = subscriptions.get(socket.id);
      if (!subs) return;
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
