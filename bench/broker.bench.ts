/**
 * Append throughput of both brokers, with redis-benchmark XADD of the same entry size on the same
 * server as the yardstick. `bun bench/broker.bench.ts [--json]`.
 * Goal: the Redis broker in batches of 100 reaches ≥ 0.5x redis-benchmark at pipeline depth 100.
 *
 * Also on a 3-master harness cluster: one stream (one hash tag, so one master, as every mcpmon key
 * today), and three streams whose tags sit on the three masters appended in parallel (what
 * partitioned work streams would give), each against redis-benchmark on the stream's own master.
 */
import { join } from "node:path";
import { createEmbeddedBroker } from "../broker/embedded/index.ts";
import { createRedisBroker } from "../broker/redis/index.ts";
import type { Broker } from "../broker/types.ts";
import { encode } from "../core/schemas/codec.ts";
import { startRedis } from "../test/harness/redis.ts";
import { type RedisCluster, startRedisCluster } from "../test/harness/redis-cluster.ts";
import { findProgram, tempDir } from "../test/harness/tmp.ts";

const ENTRY_BYTES = 300;
// One entry as collectors send it: {type, data} with ~300 bytes in all.
const entry = encode("error_event", { pad: "x".repeat(ENTRY_BYTES - 30) });
const entryBytes = Object.entries(entry).reduce((n, [k, v]) => n + k.length + v.length, 0);
const BATCHES = [1, 100, 1000] as const;
const TOTAL: Record<number, number> = { 1: 5_000, 100: 100_000, 1000: 200_000 };

interface Row {
  impl: string;
  batch: number;
  entries: number;
  per_s: number;
  ratio?: number;
}

async function measure(impl: string, broker: Broker, batch: number): Promise<Row> {
  const stream = `${broker.keys.prefix}bench:${batch}`;
  const entries = Array.from({ length: batch }, () => entry);
  const total = TOTAL[batch]!;
  // Warm-up (connection, scripts, prepared statements, and the JIT: redis-benchmark is native code
  // and needs none), then the stream is emptied so both sides start from the same state.
  for (let done = 0; done < total / 5; done += batch) await broker.append(stream, entries);
  await broker.clear(stream);
  const started = performance.now();
  for (let done = 0; done < total; done += batch) await broker.append(stream, entries);
  const seconds = (performance.now() - started) / 1000;
  await broker.clear(stream);
  return { impl, batch, entries: total, per_s: Math.round(total / seconds) };
}

/** `brokers` append in parallel, each to its own stream; entries/s over all of them. */
async function measureParallel(impl: string, brokers: Broker[], batch: number): Promise<Row> {
  const rows = await Promise.all(brokers.map((b) => measure(impl, b, batch)));
  // Each ran the same count; their rates add up while they overlap (close enough for a bench).
  return {
    impl,
    batch,
    entries: rows.reduce((n, r) => n + r.entries, 0),
    per_s: rows.reduce((n, r) => n + r.per_s, 0),
  };
}

/** Prefixes whose hash tags land on `n` different masters of the cluster. */
async function prefixesOnMasters(cluster: RedisCluster, n: number): Promise<string[]> {
  const byMaster = new Map<number, string>();
  for (let i = 0; byMaster.size < n && i < 1000; i++) {
    const prefix = `bench${i}:`;
    const port = (await cluster.masterOf(`{bench${i}}:x`)).port;
    if (!byMaster.has(port)) byMaster.set(port, prefix);
  }
  return [...byMaster.values()];
}

async function clusterRows(): Promise<Row[]> {
  const cluster = await startRedisCluster();
  const rows: Row[] = [];
  try {
    const one = createRedisBroker({ url: cluster.url, prefix: "bench:" });
    for (const b of [100, 1000]) rows.push(await measure("cluster 1 tag", one, b));
    await one.close();
    const three = (await prefixesOnMasters(cluster, 3)).map((prefix) =>
      createRedisBroker({ url: cluster.url, prefix }),
    );
    for (const b of [100, 1000]) rows.push(await measureParallel("cluster 3 tags", three, b));
    await Promise.all(three.map((b) => b.close()));
    const base = await redisBenchmark((await cluster.masterOf("rb:bench")).port, 100);
    rows.push({ ...base, impl: "rb cluster node" });
    for (const r of rows) r.ratio = Number((r.per_s / base.per_s).toFixed(2));
  } finally {
    await cluster.stop();
  }
  return rows;
}

async function redisBenchmark(port: number, depth: number): Promise<Row> {
  const bin = findProgram("redis-benchmark");
  if (!bin) throw new Error("redis-benchmark not found");
  const n = depth === 1 ? 20_000 : 300_000;
  const value = "x".repeat(entryBytes - 1);
  const argv = [bin, "-h", "127.0.0.1", "-p", String(port), "-c", "1", "-n", String(n), "-P", String(depth)];
  const proc = Bun.spawn([...argv, "--csv", "XADD", "rb:bench", "*", "f", value], {
    stdout: "pipe",
    stderr: "ignore",
  });
  const out = await new Response(proc.stdout).text();
  await proc.exited;
  // --csv: a header line, then "XADD rb:bench …","<requests per second>",…
  const line = out.trim().split("\n").pop() ?? "";
  const rps = Number(line.split('","')[1]?.replace(/"/g, ""));
  return { impl: "redis-benchmark", batch: depth, entries: n, per_s: Math.round(rps) };
}

async function main(): Promise<void> {
  const json = process.argv.includes("--json");
  const server = await startRedis();
  const tmp = tempDir("mcpmon-bench-");
  const rows: Row[] = [];
  try {
    const redis = createRedisBroker({ url: server.url, prefix: "bench:" });
    for (const b of BATCHES) rows.push(await measure("redis", redis, b));
    await redis.close();
    const embedded = createEmbeddedBroker({ path: join(tmp.path, "bench.db"), prefix: "bench:" });
    for (const b of BATCHES) rows.push(await measure("embedded", embedded, b));
    await embedded.close();
    const base1 = await redisBenchmark(server.port, 1);
    const base100 = await redisBenchmark(server.port, 100);
    rows.push(base1, base100);
    // Compare a batch of N with redis-benchmark at pipeline depth min(N, 100).
    for (const r of rows) r.ratio = Number((r.per_s / (r.batch === 1 ? base1 : base100).per_s).toFixed(2));
    if (!process.argv.includes("--no-cluster")) rows.push(...(await clusterRows()));
  } finally {
    await server.stop();
    tmp.cleanup();
  }
  if (json) {
    console.log(JSON.stringify({ entry_bytes: entryBytes, rows }, null, 2));
    return;
  }
  console.log(`append throughput, entries of ${entryBytes} bytes (ratio vs redis-benchmark, depth 1 or 100)`);
  console.log(
    `${"impl".padEnd(16)}${"batch/depth".padStart(12)}${"entries".padStart(10)}${"entries/s".padStart(12)}${"ratio".padStart(8)}`,
  );
  for (const r of rows) {
    console.log(
      `${r.impl.padEnd(16)}${String(r.batch).padStart(12)}${String(r.entries).padStart(10)}${r.per_s.toLocaleString("en").padStart(12)}${String(r.ratio).padStart(8)}`,
    );
  }
}

await main();
