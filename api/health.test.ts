import { afterEach, expect, test } from "bun:test";
import type { ComponentStatus } from "./deps.ts";
import { makeTestApp, TOKENS } from "./test-support.ts";

let current: ReturnType<typeof makeTestApp> | null = null;
afterEach(async () => {
  await current?.broker.close();
  current = null;
});

function setup(components: Record<string, ComponentStatus>) {
  current = makeTestApp({}, { components: () => components });
  return current;
}

const collectors: ComponentStatus = {
  running: true,
  workers: 1,
  detail: {
    clients: [{ client_id: "web-01", files: [{ path: "/var/log/nginx/error.log", offset: 1234 }] }],
  },
};

test("anonymous /health shows status, version, uptime, broker state and worker counts only", async () => {
  const { call } = setup({ analyzers: { running: true, workers: 3 }, collectors });
  const res = await call("GET", "/health");
  expect(res.status).toBe(200);
  expect(Object.keys(res.json).sort()).toEqual(["broker", "status", "uptime_s", "version", "workers"]);
  expect(res.json.status).toBe("ok");
  expect(res.json.broker).toEqual({ ok: true, state: expect.any(String) });
  expect(res.json.workers).toEqual({ analyzers: 3, collectors: 1 });
  for (const secret of ["pid", "rss", "web-01", "/var/log", "1234"]) expect(res.text).not.toContain(secret);
  // A wrong token or a reporter's gets the same short answer.
  for (const token of ["wrong", TOKENS.reporter])
    expect(Object.keys((await call("GET", "/health", { token })).json)).not.toContain("process");
});

test("a viewer token gets the detail on the same endpoint", async () => {
  const { call } = setup({ analyzers: { running: true, workers: 3 }, collectors });
  const res = await call("GET", "/health", { token: TOKENS.viewer });
  expect(res.status).toBe(200);
  expect(res.json.process.pid).toBe(process.pid);
  expect(res.json.components.collectors.detail.clients[0].client_id).toBe("web-01");
  expect(res.json.broker.kind).toBe("embedded");
  expect((await call("GET", "/status", { token: TOKENS.viewer })).json.process.pid).toBe(process.pid);
});

test("a running component reporting an error makes the status degraded, still 200", async () => {
  const { call } = setup({
    analyzers: { running: true, workers: 3 },
    collectors: { running: true, workers: 1, detail: { last_error: "EACCES: /var/log/x", read_errors: 7 } },
  });
  const anon = await call("GET", "/health");
  expect(anon.status).toBe(200);
  expect(anon.json.status).toBe("degraded");
  expect(anon.text).not.toContain("EACCES");
  const viewer = await call("GET", "/health", { token: TOKENS.viewer });
  expect(viewer.json.degraded).toEqual([{ component: "collectors", reason: "EACCES: /var/log/x" }]);
});

test("a collector client that cannot reach the broker is degraded; a stopped component is not", async () => {
  const down = {
    running: true,
    workers: 1,
    detail: { clients: [{ client_id: "db-01", broker_down: true, last_error: "ECONNREFUSED" }] },
  };
  const { call } = setup({ collectors: down, executors: { running: false, detail: { last_error: "old" } } });
  const res = await call("GET", "/health", { token: TOKENS.viewer });
  expect(res.json.status).toBe("degraded");
  expect(res.json.degraded).toEqual([{ component: "collectors/db-01", reason: "ECONNREFUSED" }]);
  expect(res.json.workers).toEqual({ collectors: 1, executors: 0 });
});
