/**
 * Redaction: throughput and quality, the current rules against the implementation before issue 10
 * (bench/redact-baseline, a frozen copy) in the same run.
 *
 *   bun bench/redact.bench.ts [--data DIR] [--time MS]
 *
 * Throughput, in lines per second, for:
 *   - typical: real log lines (LogHub 2k samples, 8 systems), mostly without any secret;
 *   - ordinary: tricky hand-written lines full of trigger words but no secret;
 *   - secret: the hand-written secret corpus, every line rewritten;
 *   - captured: the labelled corpus captured from real programs (core/redact/testdata/captured.json).
 * Quality, on the captured corpus, per family and split ("written": the cases looked at while the
 * rules were written; "heldout": cases only ever scored): recall (share of secret lines with no
 * fragment left) and, for look-alikes, the share of lines changed at all; plus the share of LogHub
 * lines changed (false positives on real logs that hold no secret).
 *
 * Goals: >= 500,000 typical lines/s; every family redacted; < 5 % of look-alike lines changed.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { Bench } from "tinybench";
import { redact } from "../core/redact/index.ts";
import { ORDINARY_LINES, SECRET_LINES } from "../core/redact/testdata/corpus.ts";
import { CAPTURED, type FamilyScore, score } from "../core/redact/testdata/score.ts";
import { redact as baseline } from "./redact-baseline/redact.ts";

const GOAL_LINES_PER_S = 500_000;
const GOAL_LOOKALIKE_CHANGED = 0.05;

function loghubLines(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const lines: string[] = [];
  for (const set of readdirSync(dir)) {
    const file = join(dir, set, `${set}_2k.log`);
    if (existsSync(file))
      lines.push(
        ...readFileSync(file, "utf8")
          .split("\n")
          .filter((l) => l.length > 0),
      );
  }
  return lines;
}

function parseArgs(argv: string[]): { data: string; time: number } {
  let data = resolve(dirname(new URL(import.meta.url).pathname), "../../shared/data/loghub");
  let time = 1000;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--data") data = resolve(argv[++i] ?? "");
    else if (argv[i] === "--time") time = Number(argv[++i]);
    else throw new Error(`unknown argument ${argv[i]}; usage: redact.bench.ts [--data DIR] [--time MS]`);
  }
  return { data, time };
}

const IMPLS = { current: redact, baseline } as const;
const pct = (ok: number, n: number) => (n === 0 ? "-" : `${((100 * ok) / n).toFixed(1)} %`);

async function throughput(sets: Record<string, string[]>, time: number): Promise<void> {
  let sink = 0; // keeps the results alive so the calls cannot be dropped as dead code
  const bench = new Bench({ time, warmup: true });
  for (const [impl, fn] of Object.entries(IMPLS))
    for (const [name, lines] of Object.entries(sets))
      bench.add(`${impl} ${name}`, () => {
        for (const l of lines) sink += fn(l).count;
      });
  await bench.run();
  const rows = bench.tasks.map((t) => {
    const [impl, set] = t.name.split(" ") as [string, string];
    const lines = sets[set]!;
    const r = t.result;
    const perRun = "latency" in r ? r.latency.mean : Number.NaN;
    const perS = (lines.length * 1000) / perRun;
    return {
      impl,
      set,
      lines: lines.length,
      "lines/s": Math.round(perS).toLocaleString("en-US"),
      "ns/line": ((perRun * 1e6) / lines.length).toFixed(0),
      goal: set === "typical" && impl === "current" ? (perS >= GOAL_LINES_PER_S ? "met" : "MISSED") : "",
    };
  });
  console.log(`\nThroughput (goal: current >= ${GOAL_LINES_PER_S.toLocaleString("en-US")} typical lines/s)`);
  console.table(rows);
  if (sink < 0) console.log(sink);
}

function quality(typical: string[]): void {
  const current = score(CAPTURED, redact);
  const base = score(CAPTURED, baseline);
  const key = (r: FamilyScore) => `${r.family}/${r.split}`;
  const baseBy = new Map(base.map((r) => [key(r), r]));
  const rows = current.map((r) => {
    const b = baseBy.get(key(r))!;
    const look = r.family === "lookalike";
    return {
      family: r.family,
      split: r.split,
      lines: r.lines,
      measure: look ? "changed" : "recall",
      current: look ? pct(r.lines - r.ok, r.lines) : pct(r.ok, r.lines),
      baseline: look ? pct(b.lines - b.ok, b.lines) : pct(b.ok, b.lines),
    };
  });
  console.log(
    "\nCaptured corpus: recall per family (every secret fragment gone) and look-alike lines changed",
  );
  console.table(rows);
  for (const [split, label] of [
    ["written", "written-from"],
    ["heldout", "held-out"],
  ] as const) {
    const mine = current.filter((r) => r.split === split);
    const secrets = mine.filter((r) => r.family !== "lookalike");
    const look = mine.find((r) => r.family === "lookalike");
    const ok = secrets.reduce((a, r) => a + r.ok, 0);
    const n = secrets.reduce((a, r) => a + r.lines, 0);
    const changed = look ? (look.lines - look.ok) / look.lines : 0;
    console.log(
      `${label}: recall ${pct(ok, n)} of ${n} secret lines; look-alikes changed ${pct(look ? look.lines - look.ok : 0, look?.lines ?? 0)}` +
        ` (goal < ${GOAL_LOOKALIKE_CHANGED * 100} %: ${changed < GOAL_LOOKALIKE_CHANGED ? "met" : "MISSED"})`,
    );
    for (const r of mine) for (const f of r.failures) console.log(`  ${split} ${r.family} miss: ${f.source}`);
  }
  if (typical.length > 0)
    for (const [impl, fn] of Object.entries(IMPLS)) {
      const changed = typical.filter((l) => fn(l).text !== l).length;
      console.log(
        `LogHub lines changed by ${impl}: ${changed} of ${typical.length} (${pct(changed, typical.length)})`,
      );
    }
}

async function main(): Promise<void> {
  const { data, time } = parseArgs(process.argv.slice(2));
  const typical = loghubLines(data);
  const sets: Record<string, string[]> = {
    ordinary: ORDINARY_LINES,
    secret: SECRET_LINES.map((c) => c.line),
    captured: CAPTURED.map((l) => l.line),
  };
  if (typical.length > 0) sets.typical = typical;
  else console.log(`(no LogHub samples under ${data}: the typical set is skipped)`);
  await throughput(sets, time);
  quality(typical);
}

await main();
