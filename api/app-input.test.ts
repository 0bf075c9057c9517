import { afterEach, describe, expect, test } from "bun:test";
import * as v from "valibot";
import { createEmbeddedBroker } from "../broker/index.ts";
import type { Broker } from "../broker/types.ts";
import { CentralConfig } from "../core/config/central.ts";
import { McpError } from "../core/errors.ts";
import { silentLogger } from "../core/log.ts";
import { loadPatternsDir } from "../core/patterns/load.ts";
import { startApi } from "./server.ts";
import { makeTestApp, TOKENS } from "./test-support.ts";

let current: ReturnType<typeof makeTestApp> | null = null;
function setup(...args: Parameters<typeof makeTestApp>) {
  current = makeTestApp(...args);
  return current;
}
afterEach(async () => {
  await current?.broker.close();
  current = null;
});

const base = { client_id: "app", host: "app-01", service: "redis", message: "m" };
const op = TOKENS.operator;

describe("unknown routes", () => {
  test("an unknown path is 404 with or without a token; a known one without a token is 401", async () => {
    const { call } = setup();
    for (const token of [undefined, "wrong", TOKENS.viewer]) {
      const res = await call("GET", "/nonexistent", { token });
      expect(res.status).toBe(404);
      expect(res.json).toEqual({ error: "not_found", message: "no route GET /nonexistent" });
    }
    expect((await call("GET", "/errors/x/y")).status).toBe(404);
    expect((await call("GET", "/errors/some-id")).status).toBe(401);
    expect((await call("GET", "/errors/")).status).toBe(401);
    expect((await call("DELETE", "/clients/c1")).status).toBe(401);
  });
});

describe("validation messages", () => {
  test("an unknown key is named, at its path, in a single error or a batch", async () => {
    const { call } = setup();
    const one = await call("POST", "/errors", { token: op, body: { ...base, extra: 1 } });
    expect(one.status).toBe(422);
    expect(one.json.problems).toEqual([{ path: "body.extra", message: 'unknown key "extra"' }]);
    const batch = await call("POST", "/errors", { token: op, body: [base, { ...base, extra: 1 }] });
    expect(batch.json.problems).toEqual([{ path: "body[1].extra", message: 'unknown key "extra"' }]);
    const wrong = await call("POST", "/errors", { token: op, body: { ...base, client_id: 5 } });
    expect(wrong.json.problems).toEqual([
      { path: "body.client_id", message: "Invalid type: Expected string but received 5" },
    ]);
    const missing = await call("POST", "/errors", {
      token: op,
      body: { host: "h", service: "redis", message: "m" },
    });
    expect(missing.json.problems).toEqual([{ path: "body.client_id", message: 'missing key "client_id"' }]);
    const scalar = await call("POST", "/errors", { token: op, body: "text" });
    expect(scalar.json.problems[0].path).toBe("body");
    expect(scalar.json.problems[0].message).toContain("got a string");
  });

  test("query values: paths like query.limit, limit 1-1000, statuses listed", async () => {
    const { call } = setup();
    const t = TOKENS.viewer;
    const abc = await call("GET", "/errors?limit=abc", { token: t });
    expect(abc.status).toBe(422);
    expect(abc.json.problems).toEqual([{ path: "query.limit", message: "expected a number 1-1000" }]);
    for (const bad of ["0", "1001", "-1", "1e3"])
      expect((await call("GET", `/errors?limit=${bad}`, { token: t })).status).toBe(422);
    expect((await call("GET", "/errors?limit=1000", { token: t })).json.limit).toBe(1000);
    expect((await call("GET", "/errors?limit=1", { token: t })).json.limit).toBe(1);
    const bogus = await call("GET", "/errors?status=bogus", { token: t });
    expect(bogus.status).toBe(422);
    expect(bogus.json.problems[0].path).toBe("query.status");
    expect(bogus.json.problems[0].message).toContain("needs_human");
    expect((await call("GET", "/errors?status=needs_human", { token: t })).status).toBe(200);
    // Fixes have their own statuses.
    expect((await call("GET", "/fixes?status=rejected", { token: t })).status).toBe(200);
    const fixBogus = await call("GET", "/fixes?status=needs_human", { token: t });
    expect(fixBogus.status).toBe(422);
    expect(fixBogus.json.problems[0].message).toContain("rejected");
  });

  test("a body without Content-Type is parsed as JSON; another type is a 415 saying what to send", async () => {
    const { call } = setup();
    const bytes = new TextEncoder().encode(JSON.stringify(base));
    const bare = await call("POST", "/errors", { token: op, raw: bytes });
    expect(bare.status).toBe(202);
    for (const type of ["application/x-www-form-urlencoded", "text/plain"]) {
      const res = await call("POST", "/errors", {
        token: op,
        raw: JSON.stringify(base),
        headers: { "content-type": type },
      });
      expect(res.status).toBe(415);
      expect(res.json.error).toBe("unsupported_media_type");
      expect(res.json.message).toBe(`Content-Type: application/json required (got "${type}")`);
    }
    const charset = await call("POST", "/errors", {
      token: op,
      raw: JSON.stringify(base),
      headers: { "content-type": "application/json; charset=utf-8" },
    });
    expect(charset.status).toBe(202);
    // Routes whose body is optional still take none, whatever the type.
    const empty = await call("POST", "/processing/pause", {
      token: op,
      headers: { "content-type": "text/plain" },
    });
    expect(empty.status).toBe(200);
  });

  test("a chunked body over max_body_bytes is a JSON 413, counted while it is read", async () => {
    const { call } = setup();
    const chunk = new Uint8Array(16 * 1024).fill(32);
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent++ < 100) c.enqueue(chunk);
        else c.close();
      },
    });
    const res = await call("POST", "/errors", {
      token: op,
      raw: stream,
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(413);
    expect(res.json).toEqual({
      error: "payload_too_large",
      message: "request body over 65536 bytes (api.max_body_bytes)",
    });
    expect(sent).toBeLessThan(20);
  });
});

describe("the real server answers oversized bodies with the JSON error", () => {
  test("declared length and chunked", async () => {
    const broker = createEmbeddedBroker({ path: ":memory:" });
    const config = v.parse(CentralConfig, {
      api: { tokens: [{ name: "o", token: op, role: "operator" }], max_body_bytes: 1000 },
      targets: { app: { host: "127.0.0.1" } },
    });
    const api = await startApi({
      broker,
      config,
      log: silentLogger,
      version: "t",
      host: "127.0.0.1",
      port: 0,
    });
    try {
      const headers = { authorization: `Bearer ${op}`, "content-type": "application/json" };
      const big = JSON.stringify({ ...base, message: "x".repeat(5000) });
      const declared = await fetch(`${api.url}/errors`, { method: "POST", headers, body: big });
      expect(declared.status).toBe(413);
      expect(((await declared.json()) as { error: string }).error).toBe("payload_too_large");
      const chunked = await fetch(`${api.url}/errors`, {
        method: "POST",
        headers,
        body: new Blob([big]).stream(),
        duplex: "half",
      } as RequestInit);
      expect(chunked.status).toBe(413);
      expect(((await chunked.json()) as { message: string }).message).toBe(
        "request body over 1000 bytes (api.max_body_bytes)",
      );
      const ok = await fetch(`${api.url}/errors`, { method: "POST", headers, body: JSON.stringify(base) });
      expect(ok.status).toBe(202);
    } finally {
      await api.stop();
      await broker.close();
    }
  });
});

/** An embedded broker whose every call fails the way an unreachable Redis does. */
function downBroker(): Broker {
  const real = createEmbeddedBroker({ path: ":memory:" });
  return new Proxy(real, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== "function" || prop === "close") return value;
      return () =>
        Promise.reject(
          new McpError("BROKER_UNAVAILABLE", "redis XADD: connect ECONNREFUSED 127.0.0.1:6379", {
            retryable: true,
          }),
        );
    },
  });
}

describe("broker down", () => {
  test("requests are 503 broker_unavailable naming the broker; /health is 503", async () => {
    const { call } = setup({}, { broker: downBroker() });
    for (const [method, path, token] of [
      ["GET", "/errors", TOKENS.viewer],
      ["GET", "/queues/status", TOKENS.viewer],
      ["POST", "/processing/pause", op],
    ] as const) {
      const res = await call(method, path, { token });
      expect(res.status).toBe(503);
      expect(res.json.error).toBe("broker_unavailable");
      expect(res.json.message).toContain("the embedded broker at");
    }
    const posted = await call("POST", "/errors", { token: op, body: base });
    expect(posted.status).toBe(503);
    expect((await call("GET", "/health")).status).toBe(503);
  });
});

describe("POST /errors against the patterns", () => {
  const patterns = loadPatternsDir(null);

  test("a message is matched whether it is the whole log line, only its message, or its message with the level", async () => {
    const { call, broker } = setup({}, { patterns });
    const pg = { client_id: "db-01", host: "db-01", service: "postgres" };
    for (const message of [
      "2026-11-24 01:02:03.123 UTC [4242] app@app FATAL:  sorry, too many clients already",
      "sorry, too many clients already",
      "FATAL:  sorry, too many clients already",
    ])
      expect((await call("POST", "/errors", { token: op, body: { ...pg, message } })).status).toBe(202);
    const ids = (await broker.range(broker.keys.errors)).map((e) => JSON.parse(e.fields.data!).pattern_id);
    expect(ids).toEqual(["pg-too-many-clients", "pg-too-many-clients", "pg-too-many-clients"]);
    // A word that only starts like a level is not one.
    await call("POST", "/errors", {
      token: op,
      body: { ...pg, message: "FATALITY: sorry, too many clients already" },
    });
    const last = (await broker.range(broker.keys.errors)).at(-1)!;
    expect(JSON.parse(last.fields.data!).pattern_id).not.toBe("pg-too-many-clients");
  });

  test("without pattern_id the message is matched: a Redis OOM reply meets redis-oom-command", async () => {
    const { call, broker } = setup({}, { patterns });
    const oom = { ...base, message: "OOM command not allowed when used memory > 'maxmemory'." };
    expect((await call("POST", "/errors", { token: op, body: oom })).status).toBe(202);
    const [entry] = await broker.range(broker.keys.errors);
    const event = JSON.parse(entry!.fields.data!);
    expect(event.pattern_id).toBe("redis-oom-command");
    expect(event.severity).toBe("critical");
    expect(event.category).toBe("memory");
  });

  test("unmatched: submitted/other, a given severity kept; a given unknown pattern id accepted", async () => {
    const { call, broker } = setup({}, { patterns });
    await call("POST", "/errors", {
      token: op,
      body: { ...base, message: "something odd", severity: "warning" },
    });
    await call("POST", "/errors", { token: op, body: { ...base, message: "plain" } });
    await call("POST", "/errors", { token: op, body: { ...base, pattern_id: "my-own-pattern" } });
    const events = (await broker.range(broker.keys.errors)).map((e) => JSON.parse(e.fields.data!));
    expect(events.map((e) => [e.pattern_id, e.severity, e.category])).toEqual([
      ["submitted", "warning", "other"],
      ["submitted", "error", "other"],
      ["my-own-pattern", "error", "other"],
    ]);
  });

  test("an unknown service is a 422 listing the known ones, for errors and clients", async () => {
    const { call } = setup({}, { patterns });
    const res = await call("POST", "/errors", { token: op, body: [base, { ...base, service: "mysql" }] });
    expect(res.status).toBe(422);
    expect(res.json.message).toBe(
      'no patterns file for service "mysql" (known: nginx, odoo, postgres, redis)',
    );
    expect(res.json.problems).toEqual([
      { path: "body[1].service", message: 'no patterns file for service "mysql"' },
    ]);
    const client = { client_id: "db-01", host: "db-01", service_type: "mysql" };
    const reg = await call("POST", "/clients", { token: TOKENS.admin, body: client });
    expect(reg.status).toBe(422);
    expect(reg.json.message).toContain('no patterns file for service "mysql" (known: nginx');
    const ok = await call("POST", "/clients", {
      token: TOKENS.admin,
      body: { ...client, service_type: "postgres" },
    });
    expect(ok.status).toBe(201);
  });
});

describe("a reporter token cannot choose where a fix runs", () => {
  test("events for a client that is neither configured nor registered are refused with 422 naming the key, from any token", async () => {
    const { call, broker } = setup();
    for (const token of [TOKENS.reporter, TOKENS.admin]) {
      const res = await call("POST", "/errors", {
        token,
        body: [base, { ...base, client_id: "attacker-box", host: "10.6.6.6" }],
      });
      expect(res.status).toBe(422);
      expect(res.json.error).toBe("unknown_client");
      expect(res.json.problems[0]).toEqual({
        path: "body[1].client_id",
        message: 'client "attacker-box" is neither configured (targets) nor registered (POST /clients)',
      });
    }
    // Nothing of the refused batch was appended.
    expect(await broker.range(broker.keys.errors)).toHaveLength(0);
  });

  test("a token bound to client ids reports only for them; a registered client only for its service", async () => {
    const tokens = [
      { name: "shop-app", token: "bound-reporter-1", role: "reporter", clients: ["app"] },
      { name: "ada", token: TOKENS.admin, role: "admin" },
    ];
    const { call } = setup({ tokens });
    const ok = await call("POST", "/errors", { token: "bound-reporter-1", body: base });
    expect(ok.status).toBe(202);
    const other = await call("POST", "/errors", {
      token: "bound-reporter-1",
      body: { ...base, client_id: "web-01" },
    });
    expect(other.status).toBe(422);
    expect(other.json.message).toBe('the token "shop-app" may report only for "app", not "web-01"');
    // A registered client (a collector's heartbeat or POST /clients) is known, for its own service.
    const reg = await call("POST", "/clients", {
      token: TOKENS.admin,
      body: { client_id: "db-07", host: "10.0.0.7", service_type: "postgres" },
    });
    expect(reg.status).toBe(201);
    const pg = { client_id: "db-07", host: "x", service: "postgres", message: "m" };
    expect((await call("POST", "/errors", { token: TOKENS.admin, body: pg })).status).toBe(202);
    const wrong = await call("POST", "/errors", { token: TOKENS.admin, body: { ...pg, service: "nginx" } });
    expect(wrong.status).toBe(422);
    expect(wrong.json.problems[0]).toEqual({
      path: "body.service",
      message: 'client "db-07" is registered for service "postgres", not "nginx"',
    });
  });
});
