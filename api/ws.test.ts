import { afterAll, beforeAll, expect, test } from "bun:test";
import * as v from "valibot";
import { createEmbeddedBroker } from "../broker/index.ts";
import { publishEvent } from "../broker/records.ts";
import { CentralConfig } from "../core/config/central.ts";
import { silentLogger } from "../core/log.ts";
import { type ApiHandle, startApi } from "./server.ts";
import { makeTestApp, TOKENS } from "./test-support.ts";

const broker = createEmbeddedBroker({ path: ":memory:" });
let api: ApiHandle;
beforeAll(async () => {
  const config = v.parse(CentralConfig, {
    api: {
      tokens: [
        { name: "v", token: TOKENS.viewer, role: "viewer" },
        { name: "r", token: TOKENS.reporter, role: "reporter" },
      ],
    },
  });
  api = await startApi({ broker, config, log: silentLogger, version: "t", host: "127.0.0.1", port: 0 });
});
afterAll(async () => {
  await api.stop();
  await broker.close();
});

// biome-ignore lint/suspicious/noExplicitAny: messages are read field by field in the tests
type Msg = Record<string, any>;

/** Open a socket; resolve with the messages it got and how it was closed (or still open after `ms`). */
function session(query: string, send: unknown[] = [], until?: (msgs: Msg[]) => boolean) {
  const ws = new WebSocket(`${api.url.replace("http", "ws")}/ws${query}`);
  const messages: Msg[] = [];
  return new Promise<{ messages: Msg[]; code?: number; reason?: string }>((resolve) => {
    const timer = setTimeout(() => {
      ws.close();
      resolve({ messages });
    }, 3000);
    ws.onopen = () => {
      for (const m of send) ws.send(JSON.stringify(m));
    };
    ws.onmessage = (e) => {
      messages.push(JSON.parse(String(e.data)));
      if (until?.(messages)) {
        clearTimeout(timer);
        ws.close();
        resolve({ messages });
      }
    };
    ws.onclose = (e) => {
      clearTimeout(timer);
      resolve({ messages, code: e.code, reason: e.reason });
    };
  });
}

test("a socket without a valid token is closed with 4401 unauthorized, before anything is sent", async () => {
  for (const query of ["", "?token=wrong"]) {
    const s = await session(query, [{ type: "subscribe", channel: "errors" }]);
    expect(s.code).toBe(4401);
    expect(s.reason).toBe("unauthorized");
    expect(s.messages).toEqual([]);
  }
});

test("a token whose role may not read is closed with 4403 forbidden", async () => {
  const s = await session(`?token=${TOKENS.reporter}`);
  expect(s.code).toBe(4403);
  expect(s.reason).toBe("forbidden");
});

test("a viewer token subscribes and receives events", async () => {
  const s = await session(
    `?token=${TOKENS.viewer}`,
    [{ type: "subscribe", channel: "incidents" }],
    (msgs) => {
      if (msgs.length === 2) {
        void publishEvent(broker, {
          type: "incident.status",
          channel: "incidents",
          subject: "inc1",
          data: { to: "fixed" },
        });
      }
      return msgs.some((m) => m.type === "event");
    },
  );
  expect(s.messages[0]?.type).toBe("welcome");
  expect(s.messages[1]).toEqual({ type: "subscribed", channel: "incidents" });
  const event = s.messages.find((m) => m.type === "event") ?? {};
  expect(event.channel).toBe("incidents");
  expect(event.event.subject).toBe("inc1");
});

test("the OpenAPI document describes /ws: a GET with 101, token, channels and messages", async () => {
  const t = makeTestApp();
  try {
    const doc = (await t.call("GET", "/swagger/json")).json;
    expect(doc.info.description).toContain("ws://HOST:PORT/ws?token=");
    const op = doc.paths["/ws"].get;
    expect(Object.keys(op.responses)).toContain("101");
    expect(op.parameters.map((p: { name: string }) => p.name)).toContain("token");
    for (const text of ['{"type":"subscribe","channel":"errors"}', '"type":"event"', "4401", "incidents"])
      expect(op.description).toContain(text);
    // The plugin pastes the description into <meta content="…"> unescaped: no double quote in it.
    expect(doc.info.description).not.toContain('"');
    const page = await t.call("GET", "/swagger");
    expect(page.text).toContain(`content="${doc.info.description}"`);
  } finally {
    await t.broker.close();
  }
});
