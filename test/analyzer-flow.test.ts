/**
 * The analyzer end to end on the embedded broker with the fake Messages API driven through the
 * real SDK: batching, the second run that costs nothing, rules, cache, offline mode, invalid answers,
 * transient failures that leave entries pending, regression and the loop guard.
 */
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import {
  type Analyzers,
  listIncidents,
  OFFLINE_REASON,
  readTokenStatus,
  startAnalyzers,
} from "../analyzer/index.ts";
import { createEmbeddedBroker } from "../broker/index.ts";
import { publishEvent, setPaused, updateRecord } from "../broker/records.ts";
import type { Broker } from "../broker/types.ts";
import { silentLogger } from "../core/log.ts";
import { loadPatternsDir } from "../core/patterns/index.ts";
import type { Fix } from "../core/schemas/fix.ts";
import type { Incident } from "../core/schemas/incident.ts";
import { type FakeAnthropic, startFakeAnthropic } from "./fakes/anthropic.ts";
import {
  appendEvents,
  distinctErrors,
  drained,
  permissionDenied,
  testConfig,
  waitFor,
} from "./fixtures/analyzer-events.ts";

const patterns = loadPatternsDir();
let fake: FakeAnthropic;
let broker: Broker;
let analyzers: Analyzers | null = null;
beforeAll(async () => {
  fake = await startFakeAnthropic();
});
afterAll(() => fake.stop());
afterEach(async () => {
  await analyzers?.stop();
  analyzers = null;
  await broker?.close();
});

function config(over: Record<string, Record<string, unknown>> = {}) {
  return testConfig({
    claude: { base_url: fake.url, batch_wait_ms: 300, max_retries: 1, ...over.claude },
    token_limits: { batch_size: 5, max_tokens_per_minute: 1_000_000, ...over.token_limits },
    processing: { error_processors: 3, claim_idle_ms: 500, max_deliveries: 5, ...over.processing },
    incidents: { loop_guard_max_fixes: 2, loop_guard_window_minutes: 60, ...over.incidents },
    // These tests follow Claude's fixes to the queue: opted in, as an operator may (the default,
    // none, is tested in analyzer-safety.test.ts).
    executor: { auto_approve_model_max_risk: "low", ...over.executor },
  });
}
async function start(cfg = config(), apiKey = "sk-ant-test") {
  broker = broker ?? createEmbeddedBroker({ path: ":memory:", pollMs: 10 });
  analyzers = await startAnalyzers({
    broker,
    config: cfg,
    apiKey,
    patterns,
    log: silentLogger,
    budgetWindowMs: 60_000,
  });
  return analyzers;
}
function fresh() {
  broker = createEmbeddedBroker({ path: ":memory:", pollMs: 10 });
  fake.requests.length = 0;
  fake.options = { mode: "normal" };
}
const fixes = async () => (await broker.listRecords<Fix>("fix")).map((r) => r.value);

test("1,000 events of 20 errors on 5 hosts: ≤ ceil(20/5) requests; a second run makes none", async () => {
  fresh();
  const events = distinctErrors({ count: 1000, distinct: 20, hosts: 5 });
  await appendEvents(broker, events);
  // Every incident here spans the same five clients; mixing them is what this economy measures.
  const a = await start(config({ claude: { batch_across_clients: true } }));
  await waitFor("all entries acknowledged", () => drained(broker), 60_000);
  const incidents = await listIncidents(broker);
  expect(incidents).toHaveLength(20);
  expect(incidents.reduce((s, i) => s + i.count, 0)).toBe(1000);
  expect(incidents.map((i) => `${i.hosts.length} ${i.status} ${i.status_reason ?? ""}`)).toEqual(
    Array(20).fill("5 queued "),
  );
  expect(fake.requests.length).toBeLessThanOrEqual(Math.ceil(20 / 5));
  expect((await fixes()).filter((f) => f.status === "queued")).toHaveLength(20);
  const before = fake.requests.length;

  // Second run: the same entries shipped again, and the same errors under new event ids.
  await appendEvents(broker, events);
  await appendEvents(broker, distinctErrors({ count: 1000, distinct: 20, hosts: 5, run: "second" }));
  await waitFor("second run acknowledged", () => drained(broker), 60_000);
  expect(fake.requests.length).toBe(before);
  const after = await listIncidents(broker);
  expect(after.reduce((s, i) => s + i.count, 0)).toBe(2000); // redeliveries are not counted twice
  expect(a.stats().duplicates).toBe(1000);

  // Incidents and fixes cleared (the cache lives on): the same errors are analysed from the cache.
  for (const i of after) await broker.deleteRecord("incident", i.incident_id);
  for (const f of await fixes()) await broker.deleteRecord("fix", f.fix_id);
  await appendEvents(broker, distinctErrors({ count: 40, distinct: 20, hosts: 5, run: "third" }));
  await waitFor("third run acknowledged", () => drained(broker), 60_000);
  expect(fake.requests.length).toBe(before);
  const third = await listIncidents(broker);
  expect(third.every((i) => i.analysis_source === "cache")).toBe(true);
  await a.stop(); // flushes this process's figures to the broker
  analyzers = null;
  const status = await readTokenStatus(broker, config(), 60_000);
  expect(status.calls).toBe(before);
  expect(status.cache_hits).toBe(20);
  expect(status.input_tokens + status.cache_read_tokens + status.cache_write_tokens).toBeGreaterThan(0);
  expect(status.estimated_cost_usd).toBeGreaterThan(0);
});

test("rules: a remediation becomes a queued fix without Claude, one incident per host and path", async () => {
  fresh();
  await appendEvents(broker, [
    permissionDenied(1, "web1", "/var/www/html/a.png"),
    permissionDenied(2, "web1", "/var/www/html/a.png"),
    permissionDenied(3, "web2", "/var/www/html/a.png"),
    permissionDenied(4, "web1", "/var/www/html/b.png"),
    permissionDenied(5, "web1", "/var/www/html/c.png\nchmod 777 /etc"),
  ]);
  await start();
  await waitFor("drained", () => drained(broker));
  expect(fake.requests).toHaveLength(0);
  const incidents = await listIncidents(broker);
  expect(incidents).toHaveLength(4);
  const queued = (await fixes()).filter((f) => f.status === "queued");
  expect(queued.map((f) => `${f.host} ${(f.actions[0] as { args: string[] }).args[1]}`).sort()).toEqual([
    "web1 /var/www/html/a.png",
    "web1 /var/www/html/b.png",
    "web2 /var/www/html/a.png",
  ]);
  expect(queued.every((f) => f.source === "rule")).toBe(true);
  const smuggled = incidents.find((i) => i.fields?.path?.includes("\n"))!;
  expect(smuggled.status).toBe("needs_human");
  expect(smuggled.status_reason).toContain("control characters");
  // Fix queue entries exist for the executors; status changes are on mcp:events.
  expect((await broker.range(broker.keys.fixes)).length).toBe(3);
  const events = await broker.range(broker.keys.events);
  expect(events.some((e) => e.fields.data?.includes('"to":"queued"'))).toBe(true);
});

test("offline mode: rules still work, the rest needs a human with a reason that says how to enable Claude", async () => {
  fresh();
  await appendEvents(broker, [
    ...distinctErrors({ count: 3, distinct: 3, hosts: 1 }),
    permissionDenied(1, "web1", "/var/www/html/a.png"),
  ]);
  await start(config(), "");
  await waitFor("drained", () => drained(broker));
  const incidents = await listIncidents(broker);
  expect(incidents.filter((i) => i.status === "needs_human").map((i) => i.status_reason)).toEqual([
    OFFLINE_REASON,
    OFFLINE_REASON,
    OFFLINE_REASON,
  ]);
  expect(OFFLINE_REASON).toContain("ANTHROPIC_API_KEY");
  expect(incidents.filter((i) => i.status === "queued")).toHaveLength(1);
  expect(fake.requests).toHaveLength(0);
});

test("what keeping clients apart costs: 20 errors on 5 clients take one request per client, mixed they take ceil(20/5)", async () => {
  const perClient = () =>
    distinctErrors({ count: 20, distinct: 20, hosts: 1 }).map((e, i) => ({
      ...e,
      host: `web${i % 5}`,
      client_id: `client-web${i % 5}`,
    }));
  const requests: Record<string, number> = {};
  for (const across of [false, true]) {
    fresh();
    await appendEvents(broker, perClient());
    await start(config({ claude: { batch_across_clients: across } }));
    await waitFor("all entries acknowledged", () => drained(broker), 60_000);
    requests[String(across)] = fake.requests.length;
    // Apart: the incidents of one request come from one client's log (the samples name their
    // subsystem by error number, and error i is on client i % 5).
    for (const r of fake.requests) {
      const clients = new Set([...r.raw.matchAll(/subsystem failure (\d+)/g)].map((m) => Number(m[1]) % 5));
      if (!across) expect(clients.size).toBe(1);
    }
    await analyzers!.stop();
    analyzers = null;
    await broker.close();
  }
  console.log(
    `token economy: 20 incidents on 5 clients, batch_size 5: ${requests.false} requests with clients apart (default), ${requests.true} mixed (claude.batch_across_clients: true)`,
  );
  expect(requests.false).toBe(5);
  expect(requests.true).toBeLessThanOrEqual(4);
}, 60_000);

test("an invalid answer is retried once with the validation error shown; twice invalid → needs_human", async () => {
  fresh();
  fake.script("malformed_once");
  await appendEvents(broker, distinctErrors({ count: 2, distinct: 2, hosts: 1 }));
  await start();
  await waitFor("drained", () => drained(broker));
  expect(fake.requests).toHaveLength(2);
  expect(fake.requests[1]!.raw).toContain('"is_error":true');
  expect(fake.requests[1]!.raw).toContain("invalid");
  expect((await listIncidents(broker)).every((i) => i.status === "queued")).toBe(true);

  await analyzers!.stop();
  analyzers = null;
  fake.options = { mode: "malformed" };
  await appendEvents(
    broker,
    distinctErrors({ count: 2, distinct: 2, hosts: 1, run: "x", service: "postgres" }),
  );
  await start();
  await waitFor("drained", () => drained(broker));
  expect(fake.requests).toHaveLength(4);
  const pg = (await listIncidents(broker)).filter((i) => i.service === "postgres");
  expect(pg.every((i) => i.status === "needs_human" && i.status_reason!.includes("invalid twice"))).toBe(
    true,
  );
  expect((await fixes()).filter((f) => f.service === "postgres")).toHaveLength(0);
});

test("429 waits for retry-after; 529s beyond max_retries leave the entry pending until Claude is back", async () => {
  fresh();
  fake.script("429");
  await appendEvents(broker, distinctErrors({ count: 1, distinct: 1, hosts: 1 }));
  await start();
  await waitFor("drained", () => drained(broker));
  expect(fake.requests.map((r) => r.status)).toEqual([429, 200]);
  await analyzers!.stop();
  analyzers = null;

  fake.options = { mode: "529" };
  await appendEvents(broker, distinctErrors({ count: 1, distinct: 1, hosts: 1, run: "b", service: "redis" }));
  await start();
  await waitFor(
    "two 529 answers (max_retries 1)",
    () => fake.requests.filter((r) => r.status === 529).length >= 2,
  );
  const inc = (await listIncidents(broker)).find((i) => i.service === "redis")!;
  expect(inc.status).toBe("analyzing");
  expect(await drained(broker)).toBe(false); // not acknowledged: nothing lost
  fake.options = { mode: "normal" };
  await waitFor("claimed again and finished", () => drained(broker), 30_000);
  const done = (await listIncidents(broker)).find((i) => i.service === "redis")!;
  expect(done.status).toBe("queued");
  expect((await fixes()).filter((f) => f.incident_id === done.incident_id)).toHaveLength(1);
});

test("events after fixed reopen the incident (regression); the loop guard stops automatic fixes", async () => {
  fresh();
  await appendEvents(broker, [permissionDenied(1, "web1", "/var/www/html/a.png")]);
  await start();
  await waitFor("drained", () => drained(broker));
  const [inc] = await listIncidents(broker);
  const markFixed = async () =>
    updateRecord<Incident>(broker, "incident", inc!.incident_id, (cur) => ({
      ...cur!,
      status: "fixed",
      fixed_at: [...(cur!.fixed_at ?? []), new Date().toISOString()],
    }));
  await markFixed();
  await appendEvents(broker, [permissionDenied(2, "web1", "/var/www/html/a.png")]);
  await waitFor("drained", () => drained(broker));
  let cur = (await listIncidents(broker))[0]!;
  expect(cur.regressions).toBe(1);
  expect(cur.history!.some((h) => h.to === "new" && h.reason?.startsWith("regression"))).toBe(true);
  expect(cur.status).toBe("queued");
  expect(cur.fix_ids).toHaveLength(2);

  await markFixed(); // second fix inside the window: the limit (2) is reached
  await appendEvents(broker, [permissionDenied(3, "web1", "/var/www/html/a.png")]);
  await waitFor("drained", () => drained(broker));
  cur = (await listIncidents(broker))[0]!;
  expect(cur.status).toBe("needs_human");
  expect(cur.status_reason).toContain("loop guard");
  expect(cur.fix_ids).toHaveLength(2);
  await publishEvent(broker, { type: "noop", channel: "system", subject: "x" });
});

test("when the budget is short, incidents of critical services go before the rest", async () => {
  fresh();
  const cfg = config({
    token_limits: { max_tokens_per_minute: 20_000, batch_size: 5 },
    processing: { critical_services: ["postgres"] },
  });
  broker = createEmbeddedBroker({ path: ":memory:", pollMs: 10 });
  // Another process has spent the whole window: nothing can be sent for the next 1.5 s.
  const { TokenBudget } = await import("../analyzer/index.ts");
  const budget = new TokenBudget(broker, { limit: 20_000, windowMs: 1_500 });
  expect((await budget.tryReserve(20_000)).granted).toBe(true);
  analyzers = await startAnalyzers({
    broker,
    config: cfg,
    apiKey: "k",
    patterns,
    log: silentLogger,
    budgetWindowMs: 1_500,
  });
  await appendEvents(
    broker,
    distinctErrors({ count: 5, distinct: 5, hosts: 1, run: "w", severity: "warning", service: "redis" }),
  );
  await Bun.sleep(400); // the warnings wait, their batch full, for budget
  await appendEvents(
    broker,
    distinctErrors({ count: 5, distinct: 5, hosts: 1, run: "c", severity: "error", service: "postgres" }),
  );
  await waitFor("drained", () => drained(broker), 30_000);
  const order = fake.requests.map(
    (r) => `${r.status} ${/service: (\w+)/.exec(r.raw)?.[1]} ${r.incidentIds.length}`,
  );
  expect(order).toEqual(["200 postgres 5", "200 redis 5"]);
});

test("a pause holds at once: entries already read wait until resume, then every one is analysed", async () => {
  fresh();
  fake.options = { mode: "slow", latencyMs: 1500 };
  await appendEvents(broker, distinctErrors({ count: 8, distinct: 8, hosts: 1, run: "pause" }));
  await start(
    config({
      claude: { batch_wait_ms: 0 },
      token_limits: { batch_size: 1 },
      processing: { error_processors: 1 },
    }),
  );
  await waitFor("the first request", () => fake.requests.length >= 1, 10_000);
  await setPaused(broker, true);
  await Bun.sleep(3_500);
  // What was in flight when the pause came may finish; nothing else starts.
  expect(fake.requests.length).toBeLessThanOrEqual(2);
  expect(await drained(broker)).toBe(false);
  await setPaused(broker, false);
  await waitFor("all entries acknowledged", () => drained(broker), 60_000);
  expect(fake.requests.length).toBe(8);
}, 90_000);
