// Issue 18.4: a line written in two pieces seconds apart (block-buffered writers split lines at
// their buffer boundaries) arrives whole; after the wait for its newline runs out it is shipped
// flagged partial and completed when its rest comes, also across a kill -9 of the collector.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { listIncidents } from "../../analyzer/operator.ts";
import { startAnalyzers } from "../../analyzer/worker.ts";
import { createBroker } from "../../broker/index.ts";
import { stableId } from "../../core/ids.ts";
import { silentLogger } from "../../core/log.ts";
import type { ErrorEvent } from "../../core/schemas/error-event.ts";
import { drained, testConfig } from "../fixtures/analyzer-events.ts";
import { nginxLine, until } from "../fixtures/collector-util.ts";
import { type RedisServer, startRedis, tempDir } from "../harness/index.ts";
import { errorEvents, patterns, printRow, redisCollector, tally } from "./support.ts";

let redis: RedisServer;
const tmp = tempDir("mcpmon-fault-split-");
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
  tmp.cleanup();
});

const pathOf = (e: ErrorEvent) => (e.partial ? [] : e.fields.path ? [e.fields.path] : []);

/** One file per line; each gets a quiet line, then the head of an error line. Returns the rests. */
function writeHeads(dir: string, n: number, cutAt: (line: string, i: number) => number) {
  mkdirSync(dir, { recursive: true });
  const rests: Array<() => void> = [];
  for (let i = 0; i < n; i++) {
    const file = join(dir, `site-${i}.log`);
    const line = nginxLine(i, true);
    const cut = cutAt(line, i);
    writeFileSync(file, `${nginxLine(1000 + i, false)}\n${line.slice(0, cut)}`);
    rests.push(() => appendFileSync(file, `${line.slice(cut)}\n`));
  }
  return rests;
}

// Inside the path: the head alone matches nothing. After "Permission denied)": the head alone is a
// complete-looking permission error, the case that must be flagged.
const inPath = (line: string) => line.indexOf("/html/") + 3;
const afterDenied = (line: string) => line.indexOf("denied)") + 7;

test("two pieces 2.5 s apart, default max_wait_ms: every line arrives once, whole", async () => {
  const dir = join(tmp.path, "slow");
  const rests = writeHeads(dir, 10, inPath);
  const col = await redisCollector(redis.url, "split-slow", tmp.path, { log_paths: [join(dir, "*.log")] });
  try {
    await Bun.sleep(2500); // past nginx's flush_ms (500) and the old 1 s flush of unfinished lines
    for (const r of rests) r();
    const want = Array.from({ length: 10 }, (_, i) => `/var/www/html/f${i}.html`);
    await until("all 10 lines", async () => tally(want, await errorEvents(col.broker), pathOf).lost === 0);
    const events = await errorEvents(col.broker);
    const t = tally(want, events, pathOf);
    printRow({ scenario: "line in two pieces 2.5 s apart (wait for newline)", ...t, stuck: col.spooled() });
    expect(t).toMatchObject({ lost: 0, twice: 0 });
    expect(events.every((e) => e.pattern_id === "nginx-permission-denied" && !e.partial)).toBe(true);
    expect(col.counters().partial_lines).toBe(0);
  } finally {
    await col.stop();
  }
}, 30_000);

test("the wait runs out: the head ships flagged partial, the rest rejoins it under the line's own id", async () => {
  const dir = join(tmp.path, "rejoin");
  const rests = writeHeads(dir, 10, (line, i) => (i % 2 === 0 ? inPath(line) : afterDenied(line)));
  const col = await redisCollector(redis.url, "split-rejoin", tmp.path, {
    log_paths: [join(dir, "*.log")],
    multiline: { max_wait_ms: 300 },
  });
  try {
    await until("10 partial lines", () => col.counters().partial_lines === 10);
    for (const r of rests) r();
    const want = Array.from({ length: 10 }, (_, i) => `/var/www/html/f${i}.html`);
    await until("all 10 lines", async () => tally(want, await errorEvents(col.broker), pathOf).lost === 0);
    const events = await errorEvents(col.broker);
    const t = tally(want, events, pathOf);
    const partial = events.filter((e) => e.partial);
    printRow({
      scenario: `wait runs out, rest 1 s later (${partial.length} heads flagged partial)`,
      ...t,
      stuck: col.spooled(),
    });
    expect(t).toMatchObject({ lost: 0, twice: 0 });
    expect(col.counters().rejoined_lines).toBe(10);
    // Every head was shipped, flagged, each under an id of its own: the ones that looked complete
    // by their pattern, the others (cut inside the path) by the severity catch-all.
    expect(partial.length).toBe(10);
    const matched = partial.filter((p) => p.fields.path !== undefined);
    expect(matched.length).toBe(5);
    for (const p of matched) {
      expect(p.truncated).toBe(true);
      const whole = events.find((e) => !e.partial && e.fields.path === p.fields.path)!;
      expect(whole.source!.offset).toBe(p.source!.offset);
      expect(whole.event_id).not.toBe(p.event_id);
      expect(whole.message).toEndWith('host: "example.com"');
      expect(whole.supersedes_partial).toBe(true);
    }
    // The analyzers count each line once: a whole line takes its partial's count back.
    const analyzers = await startAnalyzers({
      broker: col.broker,
      config: testConfig({ processing: { error_processors: 1, claim_idle_ms: 5_000 } }),
      apiKey: "",
      patterns,
      log: silentLogger,
    });
    try {
      await until("every entry analysed", () => drained(col.broker), 30_000);
      const incidents = await listIncidents(col.broker);
      expect(incidents.reduce((n, i) => n + i.count, 0)).toBe(10);
    } finally {
      await analyzers.stop();
    }
  } finally {
    await col.stop();
  }
}, 60_000);

test("kill -9 after the head shipped partial: the restarted collector ships the whole line", async () => {
  const dir = join(tmp.path, "kill");
  mkdirSync(dir);
  const file = join(dir, "error.log");
  const prefix = `fault-split-kill-${process.pid}:`;
  const broker = createBroker(redis.url, { prefix });
  const config = {
    client_id: "split-kill",
    service_type: "nginx",
    host: "h",
    log_paths: [file],
    state_dir: join(dir, "state"),
    read_from: "beginning",
    poll_interval_ms: 50,
    health_check_interval: 3600,
    broker: { url: redis.url, prefix },
    multiline: { max_wait_ms: 300 },
  };
  const spawn = async () => {
    const proc = Bun.spawn(
      [process.execPath, join(import.meta.dir, "../fixtures/collector-main.ts"), JSON.stringify(config)],
      { stdout: "pipe", stderr: "inherit" },
    );
    const reader = proc.stdout.getReader();
    let text = "";
    while (!text.includes("ready")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("collector exited before ready");
      text += new TextDecoder().decode(value);
    }
    reader.releaseLock();
    return proc;
  };
  // Two records before the split one: the checkpoint must stay at the split record's start.
  const line = nginxLine(7, true);
  writeFileSync(file, `${nginxLine(5, true)}\n${nginxLine(6, true)}\n${line.slice(0, afterDenied(line))}`);
  let proc = await spawn();
  try {
    await until("the partial head shipped", async () => (await errorEvents(broker)).some((e) => e.partial));
    proc.kill("SIGKILL");
    await proc.exited;
    appendFileSync(file, `${line.slice(afterDenied(line))}\n${nginxLine(8, true)}\n`);
    proc = await spawn();
    const want = [5, 6, 7, 8].map((i) => `/var/www/html/f${i}.html`);
    await until("the whole line", async () => tally(want, await errorEvents(broker), pathOf).lost === 0);
    const events = await errorEvents(broker);
    const t = tally(want, events, pathOf);
    printRow({ scenario: "kill -9 between a line's head (shipped partial) and its rest", ...t, stuck: 0 });
    expect(t).toMatchObject({ lost: 0, twice: 0 });
    const whole = events.find((e) => !e.partial && e.fields.path === want[2])!;
    expect(whole.message).toBe(line);
    expect(whole.event_id).toBe(stableId("split-kill", whole.source!.file_id!, whole.source!.offset));
  } finally {
    proc.kill("SIGTERM");
    await proc.exited;
    await broker.close();
  }
}, 30_000);
