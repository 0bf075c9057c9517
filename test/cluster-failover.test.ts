/**
 * Failover on a real Redis Cluster (issue 13): a shipper appends batches of numbered events (and,
 * like a collector's spool, resends a batch until an append resolves), a consumer counts each
 * event with its seen mark in one script and then acknowledges it, and midway the master holding
 * the work stream is SIGKILLed. After its replica takes over, every acknowledged event is in the
 * stream and was counted exactly once. The second test does the same under real analyzers, which
 * count events into incidents.
 *
 * Why it holds: with broker.wait_replicas 1 an append resolves only once a replica has it, so the
 * promoted replica has every acknowledged entry. The count and its mark are one script, and
 * replication keeps the master's order: if the XACK made it to the replica, the count did too; if
 * not, the entry is redelivered and the mark (when the count made it) stops a second count.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import * as v from "valibot";
import { listIncidents, startAnalyzers } from "../analyzer/index.ts";
import { createRedisBroker } from "../broker/index.ts";
import type { Broker } from "../broker/types.ts";
import { silentLogger } from "../core/log.ts";
import { loadPatternsDir } from "../core/patterns/index.ts";
import { decode, encode } from "../core/schemas/codec.ts";
import { distinctErrors, drained, testConfig } from "./fixtures/analyzer-events.ts";
import { waitFor } from "./harness/ports.ts";
import { type RedisCluster, startRedisCluster } from "./harness/redis-cluster.ts";

setDefaultTimeout(120_000);

let cluster: RedisCluster;
beforeAll(async () => {
  cluster = await startRedisCluster({ nodeTimeoutMs: 1_500 });
});
afterAll(async () => {
  await cluster?.stop();
});

const BATCHES = 60;
const PER_BATCH = 20;
const Event = v.object({ n: v.number() });

/** Count event `n` once: the counter record and the event's seen mark change in one script. */
async function count(b: Broker, n: number): Promise<void> {
  for (;;) {
    const cur = await b.getRecord<{ count: number }>("incident", "counter");
    const next = { count: (cur?.value.count ?? 0) + 1 };
    const mark = { key: `seen:${n}`, value: "1", ttlMs: 3_600_000 };
    const res = await b.putRecordIfUnmarked("incident", "counter", next, cur?.version ?? 0, mark);
    if (res !== null) return; // counted now, or "marked": counted before
  }
}

test("killing the master of the work stream loses no acknowledged event and counts none twice", async () => {
  const opts = { url: cluster.url, prefix: "failover:", waitReplicas: 1, connectTimeoutMs: 3_000 };
  const shipper = createRedisBroker({ ...opts, commandTimeoutMs: 3_000 });
  const analyzer = createRedisBroker({ ...opts, commandTimeoutMs: 3_000 });
  const stream = shipper.keys.errors;
  await shipper.ensureGroup(stream, "analyzers", "0");
  const acked = new Set<number>();
  let retries = 0;
  let stop = false;

  const ship = async () => {
    for (let i = 0; i < BATCHES; i++) {
      const batch = Array.from({ length: PER_BATCH }, (_, k) => encode("error", { n: i * PER_BATCH + k }));
      for (;;) {
        const ok = await shipper.append(stream, batch).then(
          () => true,
          () => false,
        );
        if (ok) break;
        retries++;
        await Bun.sleep(100);
      }
      for (let k = 0; k < PER_BATCH; k++) acked.add(i * PER_BATCH + k);
      await Bun.sleep(20);
    }
  };

  const consume = async () => {
    while (!stop) {
      try {
        // Own pending first: deliveries whose ack was lost in the failover come back here.
        let batch = await analyzer.readGroup(stream, "analyzers", "a1", { from: "0", count: 50 });
        if (batch.length === 0)
          batch = await analyzer.readGroup(stream, "analyzers", "a1", { count: 50, blockMs: 200 });
        for (const d of batch) await count(analyzer, decode(Event, d.fields).n);
        await analyzer.ack(
          stream,
          "analyzers",
          batch.map((d) => d.id),
        );
      } catch {
        await Bun.sleep(100); // the cluster is failing over: try again
      }
    }
  };

  const shipping = ship();
  const consuming = consume();
  await waitFor("a third of the events shipped", () => acked.size >= (BATCHES * PER_BATCH) / 3, 60_000);
  const master = await cluster.masterOf(stream);
  await master.kill();
  await waitFor(
    "the replica to take over",
    async () => (await cluster.masterOf(stream).catch(() => master)) !== master,
    30_000,
    100,
  );
  const failedOverAt = acked.size;
  // The promoted replica has no replica of its own, so WAIT 1 refuses every append (the shipper
  // keeps resending, as a collector keeps its spool) until the old master is back: restarted
  // (empty, no persistence here), it rejoins as the new master's replica and syncs.
  await master.restart();
  await cluster.waitOk(60_000);
  await shipping;

  const total = BATCHES * PER_BATCH;
  await waitFor(
    "every event counted",
    async () =>
      ((await analyzer.getRecord<{ count: number }>("incident", "counter").catch(() => null))?.value.count ??
        0) >= total,
    60_000,
    200,
  );
  stop = true;
  await consuming;

  // No acknowledged event lost: each one is in the stream (resends may add duplicates).
  const inStream = new Set((await analyzer.range(stream)).map((e) => decode(Event, e.fields).n));
  expect([...acked].filter((n) => !inStream.has(n))).toEqual([]);
  expect(acked.size).toBe(total);
  // None counted twice: the counter equals the number of distinct events.
  const counter = await analyzer.getRecord<{ count: number }>("incident", "counter");
  expect(counter?.value.count).toBe(total);
  // The shipper really met the failover (otherwise this test proved nothing).
  expect(retries).toBeGreaterThan(0);
  expect(await cluster.masterOf(stream)).not.toBe(master);
  expect(failedOverAt).toBeLessThan(total);
  await Promise.all([shipper.close(), analyzer.close()]);
});

test("the same failover under real analyzers: every acknowledged event is counted once in its incident", async () => {
  const opts = { url: cluster.url, prefix: "failover-analyzers:", waitReplicas: 1, connectTimeoutMs: 3_000 };
  const shipper = createRedisBroker({ ...opts, commandTimeoutMs: 3_000 });
  const broker = createRedisBroker({ ...opts, commandTimeoutMs: 3_000 });
  const analyzers = await startAnalyzers({
    broker,
    // A delivery that fails during the failover is retried, never dead-lettered.
    config: testConfig({ processing: { error_processors: 2, claim_idle_ms: 1_000, max_deliveries: 1_000 } }),
    apiKey: "", // offline: the incidents go to needs_human, and still count
    patterns: loadPatternsDir(),
    log: silentLogger,
  });
  const events = distinctErrors({ count: 600, distinct: 3, hosts: 1, run: "failover" });
  let shipped = 0;
  const ship = async () => {
    for (let i = 0; i < events.length; i += 20) {
      const batch = events.slice(i, i + 20).map((e) => encode("error", e));
      while (
        !(await shipper.append(shipper.keys.errors, batch).then(
          () => true,
          () => false,
        ))
      )
        await Bun.sleep(100);
      shipped += batch.length;
      await Bun.sleep(20);
    }
  };
  const shipping = ship();
  await waitFor("a third shipped", () => shipped >= events.length / 3, 60_000);
  const master = await cluster.masterOf(shipper.keys.errors);
  await master.kill();
  await waitFor(
    "the replica to take over",
    async () => (await cluster.masterOf(shipper.keys.errors).catch(() => master)) !== master,
    30_000,
    100,
  );
  await master.restart();
  await cluster.waitOk(60_000);
  await shipping;
  await waitFor("the analyzers drained", () => drained(broker).catch(() => false), 60_000, 200);
  const incidents = await listIncidents(broker);
  expect(incidents.reduce((n, i) => n + i.count, 0)).toBe(events.length);
  await analyzers.stop();
  await Promise.all([shipper.close(), broker.close()]);
});
