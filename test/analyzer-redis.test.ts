/**
 * Several analyzer PROCESSES (`bun analyzer/run.ts`) against one real redis-server and the fake
 * Messages API: the shared token budget holds across processes in every window, and a process
 * killed mid-analysis loses nothing and causes no second fix.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { listIncidents } from "../analyzer/index.ts";
import { createRedisBroker } from "../broker/index.ts";
import type { Broker } from "../broker/types.ts";
import type { Fix } from "../core/schemas/fix.ts";
import { type FakeAnthropic, startFakeAnthropic } from "./fakes/anthropic.ts";
import { appendEvents, distinctErrors, drained, waitFor } from "./fixtures/analyzer-events.ts";
import { type RedisServer, startRedis, tempDir } from "./harness/index.ts";

let redis: RedisServer;
let fake: FakeAnthropic;
const tmp = tempDir("mcpmon-analyzer-");
const procs = new Set<ReturnType<typeof Bun.spawn>>();
beforeAll(async () => {
  redis = await startRedis();
  fake = await startFakeAnthropic();
});
afterAll(async () => {
  for (const p of procs) p.kill("SIGKILL");
  await fake.stop();
  await redis.stop();
  tmp.cleanup();
});

const WINDOW_MS = 2_000;

function writeConfig(
  name: string,
  prefix: string,
  over: { limit: number; batch: number; claimIdleMs: number },
): string {
  const file = join(tmp.path, `${name}.yml`);
  writeFileSync(
    file,
    [
      "claude_api_key: sk-ant-test",
      `claude: { base_url: "${fake.url}", max_tokens: 1024, batch_wait_ms: 100, max_retries: 2 }`,
      `token_limits: { max_tokens_per_minute: ${over.limit}, batch_size: ${over.batch} }`,
      `processing: { error_processors: 2, claim_idle_ms: ${over.claimIdleMs}, max_deliveries: 10 }`,
      `broker: { url: "${redis.url}", prefix: "${prefix}" }`,
      "logging: { level: error }",
      // Claude's fixes go to the queue here (opted in), so the queue shows each fix made once.
      "executor: { auto_approve_model_max_risk: low }",
    ].join("\n"),
  );
  return file;
}

async function spawnAnalyzer(config: string, name: string): Promise<ReturnType<typeof Bun.spawn>> {
  const proc = Bun.spawn([process.execPath, "analyzer/run.ts", "--config", config, "--name", name], {
    cwd: join(import.meta.dir, ".."),
    env: { ...process.env, MCPMON_BUDGET_WINDOW_MS: String(WINDOW_MS), ANTHROPIC_BASE_URL: "" },
    stdout: "pipe",
    stderr: "inherit",
  });
  procs.add(proc);
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let out = "";
  while (!out.includes("analyzer ready")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`analyzer ${name} exited before it was ready`);
    out += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return proc;
}

async function stopAll() {
  for (const p of procs) p.kill("SIGTERM");
  await Promise.all([...procs].map((p) => p.exited));
  procs.clear();
}

test("three analyzer processes never exceed the token budget in any window", async () => {
  const prefix = "budget:";
  const broker: Broker = createRedisBroker({ url: redis.url, prefix });
  fake.requests.length = 0;
  fake.options = { mode: "normal" };
  const limit = 12_000;
  const config = writeConfig("budget", prefix, { limit, batch: 2, claimIdleMs: 5_000 });
  await Promise.all([spawnAnalyzer(config, "a"), spawnAnalyzer(config, "b"), spawnAnalyzer(config, "c")]);
  await appendEvents(broker, distinctErrors({ count: 120, distinct: 24, hosts: 3 }));
  await waitFor(
    "all incidents analysed",
    async () => (await drained(broker)) && (await listIncidents(broker)).every((i) => i.status === "queued"),
    90_000,
  );
  await stopAll();
  const incidents = await listIncidents(broker);
  expect(incidents).toHaveLength(24);
  // Enough calls that the budget had to hold some back, and never more than the limit per window.
  expect(fake.ok.length).toBeGreaterThanOrEqual(12);
  const maxInWindow = fake.maxTokensInWindow(WINDOW_MS);
  expect(maxInWindow).toBeLessThanOrEqual(limit);
  expect(maxInWindow).toBeGreaterThan(limit / 4);
  const fixes = (await broker.listRecords<Fix>("fix")).map((r) => r.value);
  expect(fixes).toHaveLength(24);
  await broker.close();
}, 120_000);

test("an analyzer killed with entries pending: another finishes them, nothing lost, no second fix", async () => {
  const prefix = "kill:";
  const broker: Broker = createRedisBroker({ url: redis.url, prefix });
  fake.requests.length = 0;
  fake.options = { mode: "slow", latencyMs: 4_000 };
  const config = writeConfig("kill", prefix, { limit: 1_000_000, batch: 5, claimIdleMs: 1_000 });
  const victim = await spawnAnalyzer(config, "victim");
  await appendEvents(broker, distinctErrors({ count: 50, distinct: 10, hosts: 5 }));
  await waitFor("the victim is waiting on Claude", () => fake.requests.length >= 1, 30_000);
  victim.kill("SIGKILL");
  await victim.exited;
  procs.delete(victim);
  const pendingAtKill = (await broker.stats(broker.keys.errors)).groups[0]!.pending;
  expect(pendingAtKill).toBeGreaterThan(0);

  fake.options = { mode: "normal" };
  await spawnAnalyzer(config, "survivor");
  await waitFor(
    "the survivor finished",
    async () => (await drained(broker)) && (await listIncidents(broker)).every((i) => i.status === "queued"),
    60_000,
  );
  await stopAll();
  const incidents = await listIncidents(broker);
  expect(incidents).toHaveLength(10);
  expect(incidents.reduce((s, i) => s + i.count, 0)).toBe(50); // none lost, none counted twice
  const fixes = (await broker.listRecords<Fix>("fix")).map((r) => r.value);
  expect(fixes).toHaveLength(10);
  expect(new Set(fixes.map((f) => f.incident_id)).size).toBe(10);
  const queued = await broker.range(broker.keys.fixes);
  expect(new Set(queued.map((e) => JSON.parse(e.fields.data!).fix_id)).size).toBe(10);
  await broker.close();
}, 120_000);
