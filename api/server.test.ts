import { afterEach, expect, test } from "bun:test";
import * as v from "valibot";
import { createEmbeddedBroker } from "../broker/index.ts";
import { CentralConfig } from "../core/config/central.ts";
import { silentLogger } from "../core/log.ts";
import { freePort } from "../test/harness/ports.ts";
import { type ApiHandle, startApi } from "./server.ts";

let api: ApiHandle | null = null;
let closeBroker: (() => Promise<void>) | null = null;
afterEach(async () => {
  await api?.stop();
  await closeBroker?.();
  api = null;
});

async function start(apiConfig: Record<string, unknown>) {
  const config = v.parse(CentralConfig, {
    api: { host: "127.0.0.1", port: await freePort(), metrics_port: await freePort(), ...apiConfig },
  });
  const broker = createEmbeddedBroker({ path: ":memory:" });
  closeBroker = () => broker.close();
  api = await startApi({ broker, config, log: silentLogger, version: "test" });
  return { metrics: api.metricsUrl!, main: api.url };
}

test("the separate metrics port asks for a token when metrics are not public", async () => {
  const tokens = [{ name: "v", token: "viewer-secret-1", role: "viewer" }];
  const { metrics, main } = await start({ metrics_public: false, tokens });
  expect((await fetch(metrics)).status).toBe(401);
  expect((await fetch(`${main}/metrics`)).status).toBe(401);
  const ok = await fetch(metrics, { headers: { authorization: "Bearer viewer-secret-1" } });
  expect(ok.status).toBe(200);
  expect(await ok.text()).toContain("mcp_queue_length");
});

test("the separate metrics port obeys api.allow_cidrs", async () => {
  const { metrics, main } = await start({ allow_cidrs: ["10.0.0.0/8"] });
  expect((await fetch(metrics)).status).toBe(403);
  expect((await fetch(`${main}/health`)).status).toBe(403);
});

test("public metrics are served on both ports", async () => {
  const { metrics, main } = await start({});
  expect((await fetch(metrics)).status).toBe(200);
  expect((await fetch(`${main}/metrics`)).status).toBe(200);
});

test("a second instance on the same port fails with a clear error instead of sharing the port", async () => {
  const { main } = await start({});
  const port = Number(new URL(main).port);
  const config = v.parse(CentralConfig, { api: { host: "127.0.0.1", port } });
  const broker = createEmbeddedBroker({ path: ":memory:" });
  try {
    const second = startApi({ broker, config, log: silentLogger, version: "test" });
    await expect(second).rejects.toThrow(`api.port ${port} on 127.0.0.1 is already in use`);
    await expect(second).rejects.toMatchObject({ name: "McpError", code: "CONFIG_INVALID" });
    // The first instance still answers every request.
    for (let i = 0; i < 5; i++) expect((await fetch(`${main}/health`)).status).toBe(200);
  } finally {
    await broker.close();
  }
});

test("a metrics port in use is named as api.metrics_port, and the API port is released", async () => {
  const { metrics } = await start({});
  const metricsPort = Number(new URL(metrics).port);
  const apiPort = await freePort();
  const config = v.parse(CentralConfig, {
    api: { host: "127.0.0.1", port: apiPort, metrics_port: metricsPort },
  });
  const broker = createEmbeddedBroker({ path: ":memory:" });
  try {
    await expect(startApi({ broker, config, log: silentLogger, version: "test" })).rejects.toThrow(
      `api.metrics_port ${metricsPort} on 127.0.0.1 is already in use`,
    );
    // The API port it had bound is free again.
    const again = Bun.serve({
      hostname: "127.0.0.1",
      port: apiPort,
      reusePort: false,
      fetch: () => new Response(),
    });
    again.stop(true);
  } finally {
    await broker.close();
  }
});
