/**
 * Entries that wait for the token budget far longer than `claim_idle_ms` stay with the live
 * analyzer that holds them: it touches them while they wait, so another analyzer process does not
 * claim them and ask Claude about the same incidents again. Two analyzers (distinct consumer
 * prefixes, as two processes would have) share one embedded broker and the fake Messages API.
 */
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { type Analyzers, listIncidents, startAnalyzers, TokenBudget } from "../analyzer/index.ts";
import { createEmbeddedBroker } from "../broker/index.ts";
import type { Broker } from "../broker/types.ts";
import { silentLogger } from "../core/log.ts";
import { loadPatternsDir } from "../core/patterns/index.ts";
import type { Fix } from "../core/schemas/fix.ts";
import { type FakeAnthropic, startFakeAnthropic } from "./fakes/anthropic.ts";
import { appendEvents, distinctErrors, drained, testConfig, waitFor } from "./fixtures/analyzer-events.ts";

const patterns = loadPatternsDir();
let fake: FakeAnthropic;
let broker: Broker | undefined;
const running: Analyzers[] = [];
beforeAll(async () => {
  fake = await startFakeAnthropic();
});
afterAll(() => fake.stop());
afterEach(async () => {
  await Promise.all(running.splice(0).map((a) => a.stop()));
  await broker?.close();
});

test("entries waiting for budget longer than claim_idle_ms are not claimed by another analyzer: one request per incident", async () => {
  const windowMs = 4_000;
  const claimIdleMs = 300; // far shorter than the wait for budget
  const cfg = (consumers: number) =>
    testConfig({
      claude: { base_url: fake.url, batch_wait_ms: 100, max_retries: 1 },
      token_limits: { batch_size: 5, max_tokens_per_minute: 40_000 },
      processing: { error_processors: consumers, claim_idle_ms: claimIdleMs, max_deliveries: 5 },
    });
  const b = createEmbeddedBroker({ path: ":memory:", pollMs: 10 });
  broker = b;
  const start = async (name: string, consumers: number, maxInflight?: number) => {
    const a = await startAnalyzers({
      ...(maxInflight ? { maxInflight } : {}),
      broker: b,
      config: cfg(consumers),
      apiKey: "k",
      patterns,
      log: silentLogger,
      budgetWindowMs: windowMs,
      consumerPrefix: name,
    });
    running.push(a);
    return a;
  };
  // Another process has spent the whole window: nothing can be sent for the next few seconds.
  const budget = new TokenBudget(b, { limit: 40_000, windowMs });
  expect((await budget.tryReserve(40_000)).granted).toBe(true);
  // The first analyzer takes every entry and is then at capacity, so its read loop (which would
  // also claim its own idle entries) waits; the second joins while the entries wait for budget.
  const first = await start("analyzer-a", 1, 10);
  await appendEvents(b, distinctErrors({ count: 10, distinct: 10, hosts: 1, run: "wait" }));
  await waitFor("the first analyzer holds every entry", () => first.stats().inflight === 10);
  await start("analyzer-b", 2);
  await waitFor("drained", () => drained(b), 60_000);

  const incidents = await listIncidents(b);
  expect(incidents).toHaveLength(10);
  const asked = fake.requests.filter((r) => r.status === 200).flatMap((r) => r.incidentIds);
  expect(asked.sort()).toEqual(incidents.map((i) => i.incident_id).sort());
  // Claude's fixes wait for an operator by default (executor.auto_approve_model_max_risk: none).
  expect(incidents.every((i) => i.status === "awaiting_approval")).toBe(true);
  const fixes = (await b.listRecords<Fix>("fix")).map((r) => r.value);
  expect(fixes.map((f) => f.incident_id).sort()).toEqual(incidents.map((i) => i.incident_id).sort());
  // No entry was handed to the second analyzer: the first one acked them all.
  expect(running.map((a) => a.stats().acked)).toEqual([10, 0]);
  expect(running[1]!.stats().events).toBe(0);
}, 90_000);
