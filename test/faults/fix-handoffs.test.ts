// Fix hand-offs under faults, on a real Redis: an append to mcp:fixes that fails after the record
// says queued, a run that died between its fix's final write and its incident's, a run that died
// mid-fix with no entry left to bring it to a recoverer. Each ends in a final state, with its
// incident agreeing, and is counted by the sweeper or finished by a redelivery.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { startAnalyzers } from "../../analyzer/worker.ts";
import { createRedisBroker } from "../../broker/redis/index.ts";
import type { Broker } from "../../broker/types.ts";
import { McpError } from "../../core/errors.ts";
import { silentLogger } from "../../core/log.ts";
import type { Fix } from "../../core/schemas/fix.ts";
import type { Incident } from "../../core/schemas/incident.ts";
import { sweepOnce } from "../../executor/sweeper.ts";
import { createLocalTransport } from "../../executor/transport/local.ts";
import { startExecutors } from "../../executor/worker.ts";
import { seedFix, testConfig, testPatterns } from "../executor-fixtures.ts";
import { appendEvents, permissionDenied } from "../fixtures/analyzer-events.ts";
import { type RedisServer, startRedis, tempDir } from "../harness/index.ts";
import { waitFor } from "../harness/ports.ts";
import { patterns, printRow } from "./support.ts";

let redis: RedisServer;
const tmp = tempDir("mcpmon-fault-handoff-");
const brokers: Broker[] = [];
const open = (name: string) => {
  const b = createRedisBroker({ url: redis.url, prefix: `handoff-${name}:` });
  brokers.push(b);
  return b;
};
const fixOf = async (b: Broker, id: string) => (await b.getRecord<Fix>("fix", id))!.value;
const incidentOf = async (b: Broker, id: string) => (await b.getRecord<Incident>("incident", id))!.value;
const entriesFor = async (b: Broker, fixId: string) =>
  (await b.range(b.keys.fixes)).filter((e) => JSON.parse(e.fields.data!).fix_id === fixId).length;

beforeAll(async () => {
  redis = await startRedis();
}, 30_000);
afterAll(async () => {
  for (const b of brokers) await b.close();
  await redis?.stop();
  tmp.cleanup();
});

test("the append to mcp:fixes fails after the fix says queued: the redelivered event finishes the hand-off", async () => {
  const broker = open("append");
  let failures = 1;
  // The real broker, with one append to mcp:fixes failing as a frozen Redis's timeout would.
  const faulty: Broker = {
    ...broker,
    async append(stream, entries, opts) {
      if (stream === broker.keys.fixes && failures > 0) {
        failures--;
        throw new McpError("BROKER_UNAVAILABLE", "Command timed out (injected)", { retryable: true });
      }
      return await broker.append(stream, entries, opts);
    },
  };
  const config = testConfig({ processing: { error_processors: 1, claim_idle_ms: 300, max_deliveries: 10 } });
  const analyzers = await startAnalyzers({ broker: faulty, config, apiKey: "", patterns, log: silentLogger });
  try {
    await appendEvents(broker, [permissionDenied(1, "web1", "/var/www/html/img/logo.png")]);
    let fixId = "";
    await waitFor(
      "a fix on mcp:fixes",
      async () => {
        const f = (await broker.listRecords<Fix>("fix")).map((r) => r.value)[0];
        if (f?.enqueued_at && (await entriesFor(broker, f.fix_id)) > 0) fixId = f.fix_id;
        return fixId !== "";
      },
      20_000,
    );
    expect(failures).toBe(0);
    const fix = await fixOf(broker, fixId);
    expect(fix.status).toBe("queued");
    expect((await incidentOf(broker, fix.incident_id)).status).toBe("queued");
    expect(await entriesFor(broker, fixId)).toBe(1);
    printRow({
      scenario: "fix append failed after queued (redelivery)",
      items: 1,
      delivered: 1,
      lost: 0,
      twice: 0,
      stuck: 0,
    });
  } finally {
    await analyzers.stop();
  }
}, 30_000);

test("sweeper: a queued fix never enqueued, a finished fix whose incident stayed executing, a run lost with no entry", async () => {
  const broker = open("sweep");
  const web = join(tmp.path, "www");
  mkdirSync(web, { recursive: true });
  const queued = await seedFix(broker, { actions: [{ type: "run", program: "sleep", args: ["1"] }] });
  const behind = await seedFix(broker, { actions: [{ type: "run", program: "sleep", args: ["1"] }] });
  const lost = await seedFix(broker, {
    actions: [{ type: "run", program: "sleep", args: ["1"] }],
    interrupted: { executor: "exec-dead-0", token: 1 },
  });
  // The fix finished, its incident did not follow.
  const b = await broker.getRecord<Fix>("fix", behind.fix_id);
  await broker.putRecord(
    "fix",
    behind.fix_id,
    { ...b!.value, status: "fixed", status_reason: "done" },
    b!.version,
  );
  const inc = await broker.getRecord<Incident>("incident", behind.incident_id);
  await broker.putRecord(
    "incident",
    behind.incident_id,
    { ...inc!.value, status: "executing" },
    inc!.version,
  );
  // No entry is left on the stream: the queued fix's append failed, the others' were acked and
  // trimmed (or lost with a Redis restart without AOF).
  await broker.clear(broker.keys.fixes);
  expect(await broker.range(broker.keys.fixes)).toHaveLength(0);

  const counts = await sweepOnce(broker, { graceMs: 0, log: silentLogger });
  expect(counts).toEqual({
    queued_not_enqueued: 1,
    queued_without_entry: 0,
    executing_without_lease: 1,
    incident_behind_fix: 1,
  });
  expect((await incidentOf(broker, behind.incident_id)).status).toBe("fixed");
  const events = (await broker.range(broker.keys.events)).map((e) => JSON.parse(e.fields.data!));
  expect(
    events
      .filter((e) => e.type === "sweeper.repaired")
      .map((e) => e.data.kind)
      .sort(),
  ).toEqual(["executing_without_lease", "incident_behind_fix", "queued_not_enqueued"]);

  // Executors take the re-enqueued fixes: the queued one runs, the lost one is recovered, not re-run.
  const config = testConfig({
    processing: { fix_executors: 1, claim_idle_ms: 60_000 },
    ssh_settings: { command_timeout: 2 },
    executor: { backup_dir: join(tmp.path, "backups"), sweep_after_s: 1 },
  });
  const local = createLocalTransport({ defaultTimeoutMs: 5_000 });
  const ex = await startExecutors({
    broker,
    config,
    patterns: testPatterns({ webRoot: web }),
    transports: () => local,
    log: silentLogger,
    blockMs: 100,
    sweepEveryMs: 500,
  });
  try {
    const final = ["fixed", "rolled_back", "failed", "rollback_failed"];
    await waitFor(
      "both fixes final",
      async () => {
        const a = await fixOf(broker, queued.fix_id);
        const c = await fixOf(broker, lost.fix_id);
        return final.includes(a.status) && final.includes(c.status);
      },
      30_000,
    );
    expect((await fixOf(broker, queued.fix_id)).status).toBe("fixed");
    const recovered = await fixOf(broker, lost.fix_id);
    expect(recovered.status).toBe("rolled_back");
    expect(recovered.steps.filter((s) => s.phase === "action")).toHaveLength(0);
    for (const f of [queued, lost]) {
      const status = (await fixOf(broker, f.fix_id)).status as string;
      expect((await incidentOf(broker, f.incident_id)).status as string).toBe(status);
    }
    printRow({
      scenario: "fixes stranded (queued, behind, lost run): sweeper",
      items: 3,
      delivered: 3,
      lost: 0,
      twice: 0,
      stuck: 0,
    });
  } finally {
    await ex.stop();
    await local.close();
  }
}, 60_000);
