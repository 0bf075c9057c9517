/**
 * The collector's benchmark: `bun bench/collector.bench.ts [--lines 2000000] [--latency-seconds 15]`
 *
 * 1. Generates an nginx error log of 2,000,000 lines (about 300 MB, 1.5 % errors) in a temp folder.
 * 2. Throughput of the real collector path (read, split, multiline, match, redact, flood, spool
 *    commit; shipping to a broker that acknowledges at once) in a child process, with every
 *    pattern of every service loaded; lines/s, MB/s and the child's peak RSS.
 * 3. GNU `grep -c -E -f` (LC_ALL=C) over the same file in the same run, with the nginx patterns (the
 *    ones the collector runs on this file) and with every pattern, as the baseline ratio.
 * 4. End-to-end latency at 1,000 lines/s: a line appended to a file → its entry in `mcp:errors` on
 *    a real redis-server (collector in a child process, XREAD BLOCK in this one); p50 and p99.
 */
import { closeSync, openSync, statSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createBroker } from "../broker/index.ts";
import { loadPatternsDir } from "../core/patterns/load.ts";
import type { ErrorEvent } from "../core/schemas/error-event.ts";
import { startRedis, tempDir } from "../test/harness/index.ts";
import { makeGenerator } from "./error-generator.ts";

const { values } = parseArgs({
  options: {
    lines: { type: "string", default: "2000000" },
    "latency-seconds": { type: "string", default: "15" },
  },
});

/** JavaScript regex source → POSIX ERE for grep, or undefined when it has no equivalent. */
function toEre(src: string): string | undefined {
  if (/\(\?[=!]|\(\?<[=!]|\\[bBk]/.test(src)) return undefined;
  return src
    .replace(/\(\?<[A-Za-z_]\w*>/g, "(")
    .replace(/\(\?:/g, "(")
    .replace(/([*+?}])\?/g, "$1")
    .replace(/\\d/g, "[0-9]")
    .replace(/\\D/g, "[^0-9]")
    .replace(/\\s/g, "[[:space:]]")
    .replace(/\\S/g, "[^[:space:]]")
    .replace(/\\w/g, "[[:alnum:]_]")
    .replace(/\\t/g, "\t")
    .replace(/\\\//g, "/");
}

/**
 * The patterns as grep must see them to do the same work as the collector: a pattern anchored at
 * the start of the message (after the line header) becomes header + pattern, anchored at the start
 * of the line. Fed to grep as they are, `^open\(\) …` would match no line at all — and cost grep
 * nothing, which made an unfair baseline.
 */
function wholeLineRegexes(
  sp: ReturnType<typeof loadPatternsDir> extends Map<string, infer V> ? V : never,
): string[] {
  const header = sp.spec.header?.regex;
  return sp.patterns.map((p) => {
    const src = p.pattern.regex;
    if (p.pattern.on === "record" || !header || !src.startsWith("^")) return src;
    return `${header.startsWith("^") ? header : `^${header}`}(?:${src.slice(1)})`;
  });
}

async function grepCount(file: string, regexes: string[], dir: string, name: string) {
  const usable: string[] = [];
  for (const r of regexes) {
    const ere = toEre(r);
    if (!ere) continue;
    const p = Bun.spawnSync(["grep", "-E", "-e", ere, "/dev/null"], { env: { LC_ALL: "C" } });
    if (p.exitCode === 1) usable.push(ere); // 1 = valid, no match; 2 = syntax error
  }
  const pf = join(dir, `${name}.txt`);
  writeFileSync(pf, `${usable.join("\n")}\n`);
  const t = performance.now();
  const p = Bun.spawnSync(["grep", "-c", "-E", "-f", pf, file], { env: { LC_ALL: "C" } });
  const secs = (performance.now() - t) / 1000;
  return {
    secs,
    matches: Number(p.stdout.toString().trim()),
    patterns: usable.length,
    skipped: regexes.length - usable.length,
  };
}

async function latency(dir: string, seconds: number) {
  const redis = await startRedis();
  const prefix = "bench:";
  const broker = createBroker(redis.url, { prefix });
  const file = join(dir, "latency.log");
  writeFileSync(file, "");
  const config = {
    client_id: "latency",
    service_type: "nginx",
    log_paths: [file],
    state_dir: join(dir, "latency-state"),
    read_from: "beginning",
    health_check_interval: 3600,
    broker: { url: redis.url, prefix },
    flood: { max_per_second: 100_000 },
  };
  const child = Bun.spawn(
    [process.execPath, join(import.meta.dir, "../test/fixtures/collector-main.ts"), JSON.stringify(config)],
    {
      stdout: "pipe",
      stderr: "inherit",
    },
  );
  const reader = child.stdout.getReader();
  for (let text = ""; !text.includes("ready"); )
    text += new TextDecoder().decode((await reader.read()).value);
  const written = new Map<number, number>();
  const samples: number[] = [];
  let done = false;
  const consume = (async () => {
    let last = "0-0";
    while (!done || samples.length < written.size) {
      const got = await broker.read(broker.keys.errors, last, { blockMs: 500, count: 1000 });
      const now = performance.now();
      for (const e of got) {
        last = e.id;
        const ev = JSON.parse(e.fields.data!) as ErrorEvent;
        const seq = Number(/f(\d+)\.html/.exec(ev.fields.path ?? "")?.[1]);
        const t = written.get(seq);
        if (t !== undefined) samples.push(now - t);
      }
      if (done && got.length === 0) break;
    }
  })();
  const fd = openSync(file, "a");
  const gen = makeGenerator("nginx", { errorRate: 0 });
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < seconds * 1000) {
    const due = Math.floor((performance.now() - start) * 1); // 1 line per ms
    for (; n < due; n++) {
      if (n % 50 === 7) {
        written.set(n, performance.now());
        writeSync(
          fd,
          `2026/11/24 01:02:03 [crit] 1234#1234: *${n} open() "/var/www/html/f${n}.html" failed (13: Permission denied), client: 10.0.0.1, server: x\n`,
        );
      } else writeSync(fd, `${gen().text}\n`);
    }
    await Bun.sleep(1);
  }
  done = true;
  await Promise.race([consume, Bun.sleep(5000)]);
  closeSync(fd);
  child.kill("SIGTERM");
  await child.exited;
  await broker.close();
  await redis.stop();
  samples.sort((a, b) => a - b);
  const q = (p: number) =>
    samples[Math.min(samples.length - 1, Math.floor(p * samples.length))] ?? Number.NaN;
  return { p50: q(0.5), p99: q(0.99), samples: samples.length, sent: written.size, rate: n / seconds };
}

async function main(): Promise<void> {
  const tmp = tempDir("mcpmon-bench-");
  try {
    const lines = Number(values.lines);
    const file = join(tmp.path, "error.log");
    const gen = makeGenerator("nginx", { errorRate: 0.015 });
    const fd = openSync(file, "w");
    const now = new Date();
    for (let i = 0; i < lines; ) {
      const batch: string[] = [];
      for (let k = 0; k < 10_000 && i < lines; k++, i++) batch.push(gen(now).text);
      writeSync(fd, `${batch.join("\n")}\n`);
    }
    closeSync(fd);
    const size = statSync(file).size;
    process.stderr.write(`generated ${lines} lines, ${(size / 1e6).toFixed(0)} MB\n`);

    const child = Bun.spawnSync([process.execPath, join(import.meta.dir, "collector-child.ts"), file], {
      stderr: "inherit",
    });
    const tp = JSON.parse(child.stdout.toString()) as {
      secs: number;
      counters: Record<string, number>;
      rssMb: number;
      baseRssMb: number;
    };
    const all = loadPatternsDir();
    const nginxRe = wholeLineRegexes(all.get("nginx")!);
    const allRe = [...all.values()].flatMap(wholeLineRegexes);
    const gN = await grepCount(file, nginxRe, tmp.path, "nginx");
    const gA = await grepCount(file, allRe, tmp.path, "all");
    const lat = await latency(tmp.path, Number(values["latency-seconds"]));

    const ours = lines / tp.secs;
    const rows: Array<[string, string, string]> = [
      ["collector path (read→spool), lines/s", ours.toFixed(0), "≥ 1,000,000"],
      ["collector path, MB/s", (size / 1e6 / tp.secs).toFixed(1), ""],
      [`grep -c -E -f, nginx patterns (${gN.patterns}), lines/s`, (lines / gN.secs).toFixed(0), ""],
      [
        `grep -c -E -f, all patterns (${gA.patterns}, ${gA.skipped} not ERE), lines/s`,
        (lines / gA.secs).toFixed(0),
        "",
      ],
      ["ratio to grep (nginx patterns)", `${(ours / (lines / gN.secs)).toFixed(2)}x`, "≥ 0.4x"],
      ["ratio to grep (all patterns)", `${(ours / (lines / gA.secs)).toFixed(2)}x`, ""],
      ["peak RSS of the collector process, MB", tp.rssMb.toFixed(0), "< 100"],
      ["  of which before the first line (runtime, imports, patterns), MB", tp.baseRssMb.toFixed(0), ""],
      [`latency append→mcp:errors p50, ms (${lat.samples}/${lat.sent} lines)`, lat.p50.toFixed(1), ""],
      ["latency append→mcp:errors p99, ms", lat.p99.toFixed(1), "< 250"],
      [
        "records matched / events / folded",
        `${tp.counters.matched} / ${tp.counters.events} / ${tp.counters.folded}`,
        "",
      ],
      ["grep matching lines (nginx patterns)", String(gN.matches), ""],
    ];
    const w0 = Math.max(...rows.map((r) => r[0].length));
    const w1 = Math.max(...rows.map((r) => r[1].length));
    console.log(`\n${"figure".padEnd(w0)} | ${"value".padStart(w1)} | goal`);
    console.log(`${"-".repeat(w0)}-|-${"-".repeat(w1)}-|------------`);
    for (const [a, b, c] of rows) console.log(`${a.padEnd(w0)} | ${b.padStart(w1)} | ${c}`);
  } finally {
    tmp.cleanup();
  }
}

await main();
