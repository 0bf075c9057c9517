/**
 * Consumers recover from what a reliability review reproduced:
 * - Redis restarted without persistence loses the consumer groups: analyzers and executors
 *   recreate them and process what is appended afterwards (real redis-server, restarted);
 * - an entry that killed its consumer on every delivery is dead-lettered by a new process that
 *   never handled it, and its incident still leaves `analyzing` (found through the event's mark);
 * - the workers trim acknowledged entries of mcp:errors and mcp:fixes.
 */
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { chmodSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Analyzers, getIncident, listIncidents, startAnalyzers } from "../analyzer/index.ts";
import { createEmbeddedBroker, createRedisBroker, GROUPS } from "../broker/index.ts";
import type { Broker } from "../broker/types.ts";
import { silentLogger } from "../core/log.ts";
import { loadPatternsDir } from "../core/patterns/index.ts";
import { decode } from "../core/schemas/codec.ts";
import type { ErrorEvent } from "../core/schemas/error-event.ts";
import { DeadLetter } from "../core/schemas/event.ts";
import { startExecutors } from "../executor/worker.ts";
import * as exec from "./executor-fixtures.ts";
import {
  appendEvents,
  distinctErrors,
  drained,
  pendingCount,
  testConfig,
  waitFor,
} from "./fixtures/analyzer-events.ts";
import { type RedisServer, startRedis, tempDir } from "./harness/index.ts";

const patterns = loadPatternsDir();
const tmp = tempDir("mcpmon-recovery-");
let redis: RedisServer;
const cleanups: Array<() => Promise<unknown>> = [];
beforeAll(async () => {
  redis = await startRedis(); // --save "" --appendonly no: a restart loses every key
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});
afterAll(async () => {
  await redis?.stop();
  tmp.cleanup();
});

let prefixes = 0;
function redisBroker(): Broker {
  const b = createRedisBroker({ url: redis.url, prefix: `rec${prefixes++}:`, connectTimeoutMs: 2_000 });
  cleanups.push(() => b.close());
  return b;
}

/** Append once the broker has reconnected after the restart (appends in between are refused). */
async function appendWhenBack(b: Broker, events: ErrorEvent[]): Promise<void> {
  await waitFor("the broker to accept appends again", async () => {
    try {
      await appendEvents(b, events);
      return true;
    } catch {
      return false;
    }
  });
}

test("analyzers recreate a consumer group lost in a Redis restart and process what is appended after it", async () => {
  const b = redisBroker();
  const a = await startAnalyzers({
    broker: b,
    config: testConfig({ processing: { error_processors: 2, claim_idle_ms: 1_000 } }),
    apiKey: "", // offline: every new incident goes to needs_human with a reason
    patterns,
    log: silentLogger,
  });
  cleanups.push(() => a.stop());
  await appendEvents(b, distinctErrors({ count: 4, distinct: 2, hosts: 1, run: "before" }));
  await waitFor(
    "the first incidents",
    async () => (await drained(b)) && (await listIncidents(b)).length === 2,
  );

  await redis.restart();
  expect((await b.stats(b.keys.errors)).groups).toEqual([]);
  await appendWhenBack(b, distinctErrors({ count: 6, distinct: 3, hosts: 1, run: "after" }));
  await waitFor("incidents of the events appended after the restart", async () => {
    const incidents = await listIncidents(b);
    return incidents.length === 3 && incidents.every((i) => i.status === "needs_human");
  });
  await waitFor("everything acknowledged", () => drained(b));
  const st = await b.stats(b.keys.errors);
  expect(st.groups.map((g) => g.name)).toEqual([GROUPS.analyzers]);
  expect((await listIncidents(b)).reduce((n, i) => n + i.count, 0)).toBe(6);
}, 120_000);

test("executors recreate a consumer group lost in a Redis restart and run the fixes queued after it", async () => {
  const b = redisBroker();
  const web = join(tmp.path, "www");
  mkdirSync(web, { recursive: true });
  const files = ["before.txt", "after.txt"].map((f) => join(web, f));
  for (const f of files) {
    writeFileSync(f, "x\n");
    chmodSync(f, 0o600);
  }
  const ex = await startExecutors({
    broker: b,
    config: exec.testConfig({
      processing: { fix_executors: 1, claim_idle_ms: 1_000, max_deliveries: 3 },
      targets: { c1: { transport: "local" } },
      executor: { backup_dir: join(tmp.path, "backups") },
    }),
    patterns: exec.testPatterns({ webRoot: web }),
    log: silentLogger,
    blockMs: 200,
    // Every acknowledged entry may go: the stream ends empty once the fixes are done.
    trimEveryMs: 100,
    trimKeep: 0,
  });
  cleanups.push(() => ex.stop());
  const chmod = (path: string) => ({ actions: [{ type: "run", program: "chmod", args: ["644", path] }] });
  const first = await exec.seedFix(b, chmod(files[0]!));
  expect((await exec.waitForStatus(b, first.fix_id, ["fixed"])).status).toBe("fixed");

  await redis.restart();
  // Records and the stream are gone with the restart; the fix is queued again from scratch.
  let second: Awaited<ReturnType<typeof exec.seedFix>> | undefined;
  await waitFor("the broker to accept the fix", async () => {
    second = await exec.seedFix(b, chmod(files[1]!)).catch(() => undefined);
    return second !== undefined;
  });
  expect((await exec.waitForStatus(b, second!.fix_id, ["fixed"])).status).toBe("fixed");
  expect(statSync(files[1]!).mode & 0o777).toBe(0o644);
  await waitFor("the acknowledged fix entry trimmed", async () => (await b.stats(b.keys.fixes)).length === 0);
  expect((await b.stats(b.keys.fixes)).groups[0]).toMatchObject({ name: GROUPS.executors, pending: 0 });
}, 120_000);

test("an entry that killed its consumer on every delivery: dead-lettered by a new process, and its incident goes to needs_human", async () => {
  // A Messages API that never answers: the analysis is in flight when the consumer "dies".
  const hang = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Promise<Response>(() => {}) });
  cleanups.push(async () => hang.stop(true));
  const b = createEmbeddedBroker({ path: ":memory:", pollMs: 10 });
  cleanups.push(() => b.close());
  const config = testConfig({
    claude: { base_url: `http://127.0.0.1:${hang.port}`, batch_wait_ms: 10, max_retries: 0 },
    processing: { error_processors: 1, claim_idle_ms: 600_000, max_deliveries: 2 },
  });
  // Every life uses the same consumer name, as a restarted `mcpmon analyze --name` does.
  const life = async (apiKey: string): Promise<Analyzers> => {
    const a = await startAnalyzers({
      broker: b,
      config,
      apiKey,
      patterns,
      log: silentLogger,
      consumerPrefix: "poison",
    });
    cleanups.push(() => a.stop());
    return a;
  };
  const [event] = distinctErrors({ count: 1, distinct: 1, hosts: 1, run: "poison" });
  await appendEvents(b, [event!]);

  // First life: the event is counted, its incident is `analyzing`, the call to Claude never returns.
  const first = await life("sk-ant-test");
  await waitFor("the analysis to start", async () => (await listIncidents(b))[0]?.status === "analyzing");
  await waitFor("the call to Claude", () => first.stats().claude_requests === 1);
  // Its death: stop() aborts the call and leaves the entry pending, as a crash would.
  await first.stop();
  const [incident] = await listIncidents(b);
  expect(incident!.status).toBe("analyzing");
  expect(await pendingCount(b)).toBe(1);
  // Two more lives died the same way: each read its pending entry again from "0" (a delivery).
  for (let i = 0; i < 2; i++) await b.readGroup(b.keys.errors, GROUPS.analyzers, "poison-0", { from: "0" });

  // A new process, which never handled the entry, gets it with deliveries > max_deliveries.
  const last = await life("");
  await waitFor("the entry dead-lettered", async () => (await b.range(b.keys.dlq)).length === 1);
  const [entry] = await b.range(b.keys.dlq);
  const letter = decode(DeadLetter, entry!.fields);
  expect(letter).toMatchObject({ group: GROUPS.analyzers, deliveries: 4 });
  expect(letter.reason).toContain("delivered 4 times without success (max_deliveries 2)");
  await waitFor("the incident to leave analyzing", async () => {
    return (await getIncident(b, incident!.incident_id))?.status === "needs_human";
  });
  const after = (await getIncident(b, incident!.incident_id))!;
  expect(after.history?.at(-1)).toMatchObject({
    from: "analyzing",
    to: "needs_human",
    reason: "analysis gave up: delivered 4 times without success (max_deliveries 2)",
  });
  expect(await pendingCount(b)).toBe(0);
  expect(last.stats()).toMatchObject({ dead_lettered: 1, events: 0 });
}, 60_000);

test("the analyzer trims acknowledged entries of mcp:errors, keeping the newest `trimKeep`", async () => {
  const b = createEmbeddedBroker({ path: ":memory:", pollMs: 10 });
  cleanups.push(() => b.close());
  const a = await startAnalyzers({
    broker: b,
    config: testConfig({ processing: { error_processors: 2 } }),
    apiKey: "",
    patterns,
    log: silentLogger,
    trimEveryMs: 100,
    trimKeep: 50,
  });
  cleanups.push(() => a.stop());
  await appendEvents(b, distinctErrors({ count: 400, distinct: 4, hosts: 2, run: "trim" }));
  await waitFor("drained", () => drained(b), 60_000);
  await waitFor("trimmed to the newest 50", async () => (await b.stats(b.keys.errors)).length === 50);
  const st = await b.stats(b.keys.errors);
  expect(st.groups[0]).toMatchObject({ pending: 0, lag: 0 });
  expect(a.stats().acked).toBe(400);
}, 60_000);

test("analyzers and executors that stop cleanly leave XINFO CONSUMERS (real Redis)", async () => {
  const b = redisBroker();
  const consumers = async (stream: string) =>
    (await b.stats(stream)).groups.flatMap((g) => g.consumers.map((c) => c.name)).sort();
  const a = await startAnalyzers({
    broker: b,
    config: testConfig({ processing: { error_processors: 2 } }),
    apiKey: "",
    patterns,
    log: silentLogger,
    consumerPrefix: "leaving",
  });
  await appendEvents(b, distinctErrors({ count: 20, distinct: 2, hosts: 1, run: "leave" }));
  await waitFor("drained", () => drained(b), 30_000);
  await waitFor("both consumers listed", async () => (await consumers(b.keys.errors)).length === 2);
  const file = join(tmp.path, "leave.txt");
  writeFileSync(file, "x\n");
  const x = await startExecutors({
    broker: b,
    config: exec.testConfig({
      processing: { fix_executors: 1 },
      targets: { c1: { transport: "local" } },
      executor: { backup_dir: join(tmp.path, "backups-leave") },
    }),
    patterns: exec.testPatterns({ webRoot: tmp.path }),
    log: silentLogger,
    blockMs: 200,
    name: "leaving-exec",
  });
  const fix = await exec.seedFix(b, { actions: [{ type: "run", program: "chmod", args: ["644", file] }] });
  expect((await exec.waitForStatus(b, fix.fix_id, ["fixed"])).status).toBe("fixed");
  expect(await consumers(b.keys.fixes)).toEqual(["leaving-exec-0"]);
  await a.stop();
  await x.stop();
  expect(await consumers(b.keys.errors)).toEqual([]);
  expect(await consumers(b.keys.fixes)).toEqual([]);
}, 60_000);
