// redis-server away for 10 s mid-stream: the spool grows, drains after the restart, nothing lost.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { closeSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { createBroker } from "../broker/index.ts";
import type { Broker } from "../broker/types.ts";
import { runCollector } from "../collector/index.ts";
import { loadPatternsDir } from "../core/patterns/load.ts";
import type { ErrorEvent } from "../core/schemas/error-event.ts";
import { clientConfig, nginxLine, until } from "./fixtures/collector-util.ts";
import { type RedisServer, startRedis, tempDir } from "./harness/index.ts";

let redis: RedisServer;
const tmp = tempDir("mcpmon-outage-");
const prefix = `t-outage-${process.pid}:`;

beforeAll(async () => {
  // Every acknowledged append is on disk before the reply, so the kill below loses nothing the
  // collector was told was stored.
  redis = await startRedis({ appendonly: true, args: ["--appendfsync", "always"] });
});
afterAll(async () => {
  await redis?.stop();
  tmp.cleanup();
});

test("broker down 10 s: events wait in the spool and are all shipped after the restart", async () => {
  const file = join(tmp.path, "error.log");
  const broker: Broker = createBroker(redis.url, { prefix, connectTimeoutMs: 200, maxBackoffMs: 500 });
  const fd = openSync(file, "a");
  const c = await runCollector(
    [
      clientConfig({
        client_id: "outage",
        log_paths: [file],
        state_dir: join(tmp.path, "state"),
        broker: { url: redis.url, prefix },
        flood: { max_per_second: 1_000_000 },
      }),
    ],
    { broker, patterns: loadPatternsDir(join(import.meta.dir, "../patterns")), tuning: { heartbeat: false } },
  );
  const status = () => c.status().clients[0]!;
  const expected = new Set<number>();
  let i = 0;
  const write = (n: number) => {
    const lines: string[] = [];
    for (let k = 0; k < n; k++, i++) {
      if (i % 10 === 0) expected.add(i);
      lines.push(nginxLine(i, i % 10 === 0));
    }
    writeSync(fd, `${lines.join("\n")}\n`);
  };
  try {
    for (let t = 0; t < 20; t++) {
      write(50);
      await Bun.sleep(25);
    }
    await redis.kill();
    const downAt = Date.now();
    let maxDepth = 0;
    let sawDown = false;
    while (Date.now() - downAt < 10_000) {
      write(50);
      await Bun.sleep(50);
      const s = status();
      maxDepth = Math.max(maxDepth, s.spool_depth);
      sawDown ||= s.broker_down;
    }
    expect(sawDown).toBe(true);
    // 10 s of 100 error lines/s could not be shipped: they are in the spool, not lost.
    expect(maxDepth).toBeGreaterThan(500);
    await redis.restart();
    write(50);
    const got = new Set<number>();
    const shipped = async () => {
      for (const e of await broker.range(broker.keys.errors, "-", "+")) {
        const ev = JSON.parse(e.fields.data!) as ErrorEvent;
        got.add(Number(/f(\d+)\.html/.exec(ev.fields.path ?? "")?.[1]));
      }
      return [...expected].every((n) => got.has(n));
    };
    await until("every error line in mcp:errors", shipped, 20_000);
    expect([...expected].filter((n) => !got.has(n))).toEqual([]);
    await until("spool drained", () => status().spool_depth === 0 && !status().broker_down);
    expect(status().counters.ship_errors).toBeGreaterThan(0);
  } finally {
    closeSync(fd);
    await c.stop({ drainMs: 0 });
    await broker.close();
  }
}, 60_000);
