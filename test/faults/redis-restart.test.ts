// Issue 18.8: what Redis loses. The collector drops a spooled event once Redis acknowledged it;
// a Redis without AOF loses acknowledged events when it restarts. With appendonly yes, appendfsync
// always and broker.durable: true, kill -9 of Redis (during and after shipping) loses nothing;
// broker.durable against a Redis that cannot keep its promise refuses to start.
import { afterAll, expect, test } from "bun:test";
import { appendFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isMcpError } from "../../core/errors.ts";
import { nginxLine, until } from "../fixtures/collector-util.ts";
import { type RedisServer, startRedis, tempDir } from "../harness/index.ts";
import { errorEvents, printRow, redisCollector, tally } from "./support.ts";

const tmp = tempDir("mcpmon-fault-redis-");
const servers: RedisServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
  tmp.cleanup();
});

const N = 3000;
const want = Array.from({ length: N }, (_, i) => `/var/www/html/f${i}.html`);
const byPath = (e: { fields: { path?: string } }) => (e.fields.path ? [e.fields.path] : []);

async function scenario(name: string, redisOpts: object, durable: boolean) {
  const redis = await startRedis(redisOpts);
  servers.push(redis);
  const file = join(tmp.path, `${name}.log`);
  writeFileSync(file, "");
  const col = await redisCollector(redis.url, name, tmp.path, {
    log_paths: [file],
    flood: { max_per_second: 1_000_000 },
    broker: { url: redis.url, prefix: `fault-${name}-${process.pid}:`, durable },
  });
  try {
    const durability = await col.broker.durability!();
    // Half written, Redis killed while the collector ships, then the other half.
    const lines = Array.from({ length: N }, (_, i) => nginxLine(i, true));
    appendFileSync(file, `${lines.slice(0, N / 2).join("\n")}\n`);
    await until("some shipped", async () => (await errorEvents(col.broker)).length > 0);
    await redis.kill();
    appendFileSync(file, `${lines.slice(N / 2).join("\n")}\n${nginxLine(N, false)}\n`);
    await Bun.sleep(300);
    await redis.restart();
    await until("the spool empty", () => col.spooled() === 0 && (col.counters().matched ?? 0) >= N, 30_000);
    // Every event Redis acknowledged has left the spool; now Redis dies without a shutdown.
    const before = tally(want, await errorEvents(col.broker), byPath);
    await redis.kill();
    await redis.restart();
    const after = tally(want, await errorEvents(col.broker), byPath);
    printRow({ scenario: `Redis kill -9 twice: ${name}`, ...after, stuck: col.spooled() });
    return { durability, before, after };
  } finally {
    await col.stop();
  }
}

test("without AOF (the default of many setups): acknowledged events are lost at a restart, and it says so", async () => {
  const { durability, before, after } = await scenario("no-aof", { save: "" }, false);
  expect(durability.warning).toContain("appendonly no");
  // The first kill took what was shipped before it; the second, everything.
  expect(before.lost).toBeGreaterThan(0);
  expect(after.lost).toBe(N);
}, 60_000);

test("appendonly yes + appendfsync always + broker.durable: nothing acknowledged is lost", async () => {
  const { durability, after } = await scenario(
    "durable",
    { appendonly: true, args: ["--appendfsync", "always"] },
    true,
  );
  expect(durability.mode).not.toBe("none");
  expect(durability.warning).toBeUndefined();
  expect(after).toMatchObject({ lost: 0, twice: 0 });
}, 60_000);

test("broker.durable against a Redis that cannot keep it: the collector refuses to start", async () => {
  for (const opts of [{ save: "" }, { appendonly: true }]) {
    const redis = await startRedis(opts);
    servers.push(redis);
    const err = await redisCollector(redis.url, "refused", tmp.path, {
      log_paths: [join(tmp.path, "none.log")],
      broker: { url: redis.url, prefix: "refused:", durable: true },
    }).catch((e) => e);
    expect(isMcpError(err, "BROKER_NOT_DURABLE")).toBe(true);
    expect(String(err.message)).toMatch(/appendonly no|appendfsync everysec/);
  }
}, 30_000);
