/**
 * The throughput half of bench/collector.bench.ts, in a process of its own so that its peak RSS is
 * the collector's: `bun bench/collector-child.ts FILE` runs the real collector over FILE (every
 * pattern of every service loaded, a broker that acknowledges at once) and prints JSON figures.
 * It imports what `mcpmon collect` imports (the broker included), nothing of the benchmark.
 */
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { makeKeys } from "../broker/index.ts";
import type { Broker } from "../broker/types.ts";
import { runCollector } from "../collector/index.ts";
import { ClientConfig } from "../core/config/client.ts";
import { loadPatternsDir } from "../core/patterns/load.ts";

const file = process.argv[2]!;
const size = statSync(file).size;
const broker = {
  kind: "embedded",
  keys: makeKeys("bench:"),
  append: async (_stream: string, batch: unknown[]) => batch.map(() => "0-1"),
} as unknown as Broker;
const config = v.parse(ClientConfig, {
  client_id: "bench",
  service_type: "nginx",
  log_paths: [file],
  state_dir: join(file, "..", `state-${Date.now()}`),
  read_from: "beginning",
  spool: { max_bytes: 1 << 30 },
});
const started = performance.now();
const patterns = loadPatternsDir();
// What the process holds before reading a line: the runtime, the imports and the loaded patterns.
const baseRssMb = process.memoryUsage().rss / 2 ** 20;
const c = await runCollector([config], { broker, patterns, tuning: { heartbeat: false } });
while (c.status().clients[0]!.files[0]?.offset !== size) await Bun.sleep(2);
const secs = (performance.now() - started) / 1000;
const st = c.status().clients[0]!;
await c.stop({ drainMs: 0 });
// Peak RSS of this process's own memory (VmHWM). Not getrusage's maxRSS: Linux carries the
// parent's high-water mark over a spawn (posix_spawn shares the parent's mm until exec), so under
// the bench, which holds ~160 MB after generating the file, maxRSS said 166 MB for a 90 MB child.
const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
const rssMb = hwm ? Number(hwm) / 1024 : process.resourceUsage().maxRSS / 1024;
process.stdout.write(`${JSON.stringify({ secs, size, counters: st.counters, rssMb, baseRssMb })}\n`);
