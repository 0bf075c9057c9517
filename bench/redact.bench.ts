/**
 * Redaction throughput, in lines per second, for the three kinds of input the collector sees:
 *   - typical: real log lines (LogHub 2k samples when present) — mostly no trigger at all;
 *   - ordinary: tricky lines full of trigger words ("password authentication failed") but no secret;
 *   - secret: the secret-bearing corpus, every line rewritten.
 *
 *   bun bench/redact.bench.ts [--data DIR]
 *
 * Target: >= 300k typical lines/s through redact() (it runs only on the 1-2% of lines that matched).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { Bench } from "tinybench";
import { mayContainSecret, redact } from "../core/redact/index.ts";
import { ORDINARY_LINES, SECRET_LINES } from "../core/redact/testdata/corpus.ts";

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

function parseArgs(argv: string[]): string {
  let data = resolve(dirname(new URL(import.meta.url).pathname), "../../shared/data/loghub");
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--data") data = resolve(argv[++i] ?? "");
    else throw new Error(`unknown argument ${argv[i]}; usage: redact.bench.ts [--data DIR]`);
  }
  return data;
}

async function main(): Promise<void> {
  const typical = loghubLines(parseArgs(process.argv.slice(2)));
  const secret = SECRET_LINES.map((c) => c.line);
  const sets: Record<string, string[]> = { ordinary: ORDINARY_LINES, secret };
  if (typical.length > 0) sets.typical = typical;

  // Keep a result alive so the engine cannot drop the calls as dead code.
  let sink = 0;
  const bench = new Bench({ time: 1000, warmup: true });
  for (const [name, lines] of Object.entries(sets)) {
    bench.add(`redact ${name}`, () => {
      for (const l of lines) sink += redact(l).count;
    });
  }
  if (typical.length > 0) {
    bench.add("mayContainSecret typical", () => {
      for (const l of typical) if (mayContainSecret(l)) sink++;
    });
  }
  await bench.run();

  const rows = bench.tasks.map((t) => {
    const r = t.result;
    const lines = sets[t.name.split(" ")[1]!]!;
    const perRun = "latency" in r ? r.latency.mean : Number.NaN;
    const triggered = lines.filter((l) => mayContainSecret(l)).length;
    return {
      task: t.name,
      lines: lines.length,
      "triggered %": ((100 * triggered) / lines.length).toFixed(1),
      "lines/s": Math.round((lines.length * 1000) / perRun).toLocaleString("en-US"),
      "ns/line": ((perRun * 1e6) / lines.length).toFixed(0),
    };
  });
  console.table(rows);
  if (sink < 0) console.log(sink);
}

await main();
