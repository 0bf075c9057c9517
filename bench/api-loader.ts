/**
 * HTTP load generator for bench/api.bench.ts, run in its own process so that the server under
 * test keeps its core: N connections, each sending its next request as soon as the previous
 * answer is read, for a fixed time. Prints one JSON object on stdout.
 *
 *   bun bench/api-loader.ts --url http://127.0.0.1:8080/health [--method POST] [--token T]
 *     [--body-file F] [--connections 16] [--duration 5] [--warmup 0.5]
 *
 * Bun's fetch keeps connections alive, so N workers hold about N sockets to the server.
 */
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    url: { type: "string" },
    method: { type: "string", default: "GET" },
    token: { type: "string" },
    "body-file": { type: "string" },
    connections: { type: "string", default: "16" },
    duration: { type: "string", default: "5" },
    warmup: { type: "string", default: "0.5" },
  },
});
if (!values.url) {
  console.error("api-loader: --url is required");
  process.exit(2);
}
const url = values.url;
const method = values.method ?? "GET";
const connections = Number(values.connections);
const durationMs = Number(values.duration) * 1000;
const warmupMs = Number(values.warmup) * 1000;
const body = values["body-file"] ? await Bun.file(values["body-file"]).text() : undefined;
const headers: Record<string, string> = {};
if (values.token) headers.authorization = `Bearer ${values.token}`;
if (body !== undefined) headers["content-type"] = "application/json";

const latencies: number[] = [];
const statuses: Record<string, number> = {};
let failures = 0;
let firstFailure = "";

async function one(record: boolean): Promise<void> {
  const t0 = performance.now();
  try {
    const res = await fetch(url, { method, headers, body });
    await res.arrayBuffer();
    if (!record) return;
    latencies.push(performance.now() - t0);
    statuses[res.status] = (statuses[res.status] ?? 0) + 1;
  } catch (e) {
    if (!record) return;
    failures++;
    firstFailure ||= String((e as Error)?.message ?? e);
  }
}

async function worker(until: number, record: boolean): Promise<void> {
  while (performance.now() < until) await one(record);
}

// Warm-up: open the connections and let the server's JIT settle; nothing is recorded.
const warmEnd = performance.now() + warmupMs;
await Promise.all(Array.from({ length: connections }, () => worker(warmEnd, false)));

const started = performance.now();
const end = started + durationMs;
await Promise.all(Array.from({ length: connections }, () => worker(end, true)));
const seconds = (performance.now() - started) / 1000;

const sorted = Float64Array.from(latencies).sort();
const pct = (p: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : 0;
const round = (x: number) => Math.round(x * 100) / 100;
console.log(
  JSON.stringify({
    url,
    method,
    connections,
    seconds: round(seconds),
    requests: latencies.length,
    rps: Math.round(latencies.length / seconds),
    p50_ms: round(pct(0.5)),
    p99_ms: round(pct(0.99)),
    max_ms: round(sorted.length ? sorted[sorted.length - 1]! : 0),
    statuses,
    failures,
    first_failure: firstFailure || undefined,
  }),
);
