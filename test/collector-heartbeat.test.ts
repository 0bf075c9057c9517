// Heartbeats on a real Redis broker: the client record carries what an operator needs (health,
// files, lag, spool depth, counters), every beat is announced on mcp:events (a change of health as
// `client.health`), and a concurrent writer of the record neither loses the heartbeat nor is lost.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { appendFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createBroker } from "../broker/index.ts";
import type { Broker } from "../broker/types.ts";
import { sendHeartbeat } from "../collector/heartbeat.ts";
import { runCollector } from "../collector/index.ts";
import { loadPatternsDir } from "../core/patterns/load.ts";
import type { ClientRecord } from "../core/schemas/client.ts";
import type { McpEvent } from "../core/schemas/event.ts";
import { clientConfig, nginxLine, until } from "./fixtures/collector-util.ts";
import { type NginxServer, type RedisServer, startNginx, startRedis, tempDir } from "./harness/index.ts";

setDefaultTimeout(120_000);

const tmp = tempDir("mcpmon-heartbeat-");
const patterns = loadPatternsDir(join(import.meta.dir, "../patterns"));
let redis: RedisServer;
let nginx: NginxServer;
const brokers: Broker[] = [];

beforeAll(async () => {
  [redis, nginx] = await Promise.all([startRedis(), startNginx()]);
});
afterAll(async () => {
  await Promise.all(brokers.map((b) => b.close()));
  await Promise.all([redis?.stop(), nginx?.stop()]);
  tmp.cleanup();
});

function broker(prefix: string): Broker {
  const b = createBroker(redis.url, { prefix });
  brokers.push(b);
  return b;
}

async function events(b: Broker, subject: string): Promise<McpEvent[]> {
  const got = await b.read(b.keys.events, "0-0", { count: 10_000 });
  return got.map((e) => JSON.parse(e.fields.data!) as McpEvent).filter((e) => e.subject === subject);
}

test("the client record shows health, files, lag, spool depth and counters; health changes are events", async () => {
  const real = broker("hb1:");
  // The errors stream refuses appends until `open`: events stay in the spool, which must show.
  const gate = { open: false };
  const b = new Proxy(real, {
    get(target, prop, recv) {
      if (prop === "append")
        return (stream: string, ...rest: unknown[]) =>
          !gate.open && stream === target.keys.errors
            ? Promise.reject(new Error("errors stream refused (test)"))
            : (target.append as (...a: unknown[]) => Promise<string[]>)(stream, ...rest);
      return Reflect.get(target, prop, recv);
    },
  });
  const file = join(tmp.path, "error.log");
  writeFileSync(file, "");
  const c = await runCollector(
    [
      clientConfig({
        client_id: "hb-web-1",
        log_paths: [file],
        state_dir: join(tmp.path, "state-1"),
        health_check_interval: 1,
        health_check: { port: nginx.port },
        spool: { max_bytes: 20_000 },
        flood: { max_per_second: 1_000_000 },
      }),
    ],
    { broker: b, patterns, version: "9.9.9-test", tuning: { chunkBytes: 4096, commitBytes: 4096 } },
  );
  const record = async () => (await real.getRecord<ClientRecord>("client", "hb-web-1"))?.value;
  try {
    const lines: string[] = [];
    for (let i = 0; i < 400; i++) lines.push(nginxLine(i, i % 2 === 0));
    appendFileSync(file, `${lines.join("\n")}\n`);
    const size = statSync(file).size;

    // Spool full, reading paused, the rest of the file waiting: all of it visible in the record.
    await until(
      "a heartbeat with a paused reader",
      async () => (await record())?.reading_paused === true,
      20_000,
    );
    const paused = (await record())!;
    expect(paused).toMatchObject({
      host: "test-host",
      service_type: "nginx",
      version: "9.9.9-test",
      health: "ok",
    });
    expect(paused.health_detail).toBe(`port ${nginx.port} accepts connections`);
    expect(paused.spool_depth).toBeGreaterThan(0);
    expect(paused.spool_bytes).toBeGreaterThanOrEqual(20_000);
    expect(paused.lag_bytes).toBeGreaterThan(0);
    expect(paused.files).toHaveLength(1);
    expect(paused.files[0]!.path).toBe(file);
    expect(paused.files[0]!.size).toBe(size);
    expect(paused.counters.matched).toBe(paused.spool_depth);
    expect(paused.counters.ship_errors).toBeGreaterThan(0);

    gate.open = true;
    await until("a heartbeat after everything was shipped", async () => {
      const r = await record();
      return r?.counters.shipped === 200 && r.spool_depth === 0 && r.lag_bytes === 0;
    });
    const drained = (await record())!;
    expect(drained.files[0]).toEqual({ path: file, offset: size, size, lag_bytes: 0 });
    expect(drained.counters).toMatchObject({ lines: 400, matched: 200, events: 200, files_opened: 1 });
    expect(drained.reading_paused).toBe(false);
    expect(drained.registered_at).toBe(paused.registered_at);

    await nginx.stop();
    await until("health down", async () => (await record())?.health === "down");
    const evs = await events(real, "hb-web-1");
    expect(evs.every((e) => e.channel === "clients")).toBe(true);
    expect(evs.filter((e) => e.type === "client.heartbeat").length).toBeGreaterThanOrEqual(2);
    // Exactly one change of health so far: ok → down.
    const changes = evs.filter((e) => e.type === "client.health");
    expect(changes).toHaveLength(1);
    expect(changes[0]!.data).toMatchObject({ health: "down", previous_health: "ok" });
  } finally {
    await c.stop({ drainMs: 0 });
  }
});

test("a concurrent writer of the client record neither loses the heartbeat nor is overwritten", async () => {
  const real = broker("hb2:");
  await real.putRecord("client", "hb-db-1", { client_id: "hb-db-1", note: "old", health: "ok" }, 0);
  // Between the heartbeat's read and its compare-and-set, an operator's note is written twice.
  let interleave = 2;
  const b = new Proxy(real, {
    get(target, prop, recv) {
      if (prop === "getRecord")
        return async (kind: "client", id: string) => {
          const cur = await target.getRecord<Record<string, unknown>>(kind, id);
          if (interleave-- > 0 && cur)
            await target.putRecord(
              kind,
              id,
              { ...cur.value, note: `by operator ${interleave}` },
              cur.version,
            );
          return cur;
        };
      return Reflect.get(target, prop, recv);
    },
  });
  await sendHeartbeat(
    b,
    {
      client_id: "hb-db-1",
      host: "db-host",
      service_type: "postgres",
      version: "1.0.0",
      files: [{ path: "/var/log/postgresql/pg.log", offset: 10, size: 30, lag_bytes: 20 }],
      lag_bytes: 20,
      spool_depth: 3,
      spool_bytes: 900,
      reading_paused: false,
      counters: { lines: 42 },
    },
    { health: "degraded", detail: "slow", latency_ms: 1 },
  );
  const rec = (await real.getRecord<ClientRecord & { note: string }>("client", "hb-db-1"))!;
  expect(rec.value).toMatchObject({
    note: "by operator 0",
    health: "degraded",
    lag_bytes: 20,
    spool_depth: 3,
    counters: { lines: 42 },
  });
  expect(rec.version).toBe(4); // the first write, two concurrent ones, then the heartbeat
  const evs = await events(real, "hb-db-1");
  expect(evs.map((e) => e.type)).toEqual(["client.health"]);
  expect(evs[0]!.data).toMatchObject({ health: "degraded", previous_health: "ok", spool_depth: 3 });
});
