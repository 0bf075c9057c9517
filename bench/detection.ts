/**
 * Detection benchmark: per service, the share of labelled failure records the collector ships
 * (recall) and the share of noise records it ships, on logs real servers wrote under provoked
 * failures (test/fixtures/realogs/). `held` logs were kept out of pattern writing; `dev` are what
 * the patterns were written from. Beside each figure, the same run with the baseline: the patterns
 * files of a git revision (default: where this branch left main) and no severity catch-all, i.e.
 * the collector as it was. Also the match cost per record, since the catch-all reads the level of
 * every record no pattern matched.
 *
 *   bun bench/detection.ts [--baseline REV] [--json]
 */
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { createMatcher } from "../collector/match.ts";
import { withUnmatched } from "../collector/unmatched.ts";
import { loadPatternsDir, parsePatternsText, type ServicePatterns } from "../core/patterns/load.ts";
import { fixtureLogs, type MatchFn, scoreLog, total } from "../test/fixtures/realogs/score.ts";

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), "..");

function git(args: string[]): string | null {
  const r = Bun.spawnSync(["git", "-C", ROOT, ...args], { stdout: "pipe", stderr: "ignore" });
  return r.exitCode === 0 ? r.stdout.toString() : null;
}

/** The patterns files as they were at `rev` (only the services present then). */
function patternsAt(rev: string): Map<string, ServicePatterns> {
  const out = new Map<string, ServicePatterns>();
  for (const f of (git(["ls-tree", "--name-only", rev, "patterns/"]) ?? "").split("\n")) {
    if (!f.endsWith(".yml")) continue;
    const text = git(["show", `${rev}:${f}`]);
    if (text !== null) out.set(f.slice(9, -4), parsePatternsText(text, f));
  }
  return out;
}

function parseArgs(argv: string[]): { baseline: string; json: boolean } {
  let baseline = git(["merge-base", "HEAD", "main"])?.trim() || "HEAD";
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--baseline") baseline = argv[++i] ?? baseline;
    else if (argv[i] === "--json") json = true;
    else throw new Error(`unknown argument ${argv[i]}; usage: detection.ts [--baseline REV] [--json]`);
  }
  return { baseline, json };
}

/** Nanoseconds per record of a match function over the records of the fixture logs (best of 5). */
function costPerRecord(service: string, match: MatchFn, lines: string[]): number {
  const reps = Math.max(1, Math.ceil(200_000 / Math.max(1, lines.length)));
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 5; round++) {
    const start = performance.now();
    for (let r = 0; r < reps; r++) for (const l of lines) match(service, l);
    best = Math.min(best, ((performance.now() - start) * 1e6) / (reps * lines.length));
  }
  return best;
}

function main(): void {
  const { baseline, json } = parseArgs(process.argv.slice(2));
  const now = loadPatternsDir(join(ROOT, "patterns"));
  const before = patternsAt(baseline);
  const nowMatcher = createMatcher(now);
  const beforeMatcher = createMatcher(before);
  const logs = fixtureLogs();
  const rows = [];
  const files: string[] = [];
  for (const service of [...new Set(logs.map((l) => l.service))].sort()) {
    const sp = now.get(service)!;
    const current = withUnmatched((s, r) => nowMatcher.match(s, r), sp);
    const base: MatchFn = (s, r) => beforeMatcher.match(s, r);
    const bsp = before.get(service) ?? sp;
    const lines: string[] = [];
    for (const split of ["dev", "held"] as const) {
      const mine = logs.filter((l) => l.service === service && l.split === split);
      for (const l of mine) lines.push(...readFileSync(l.path, "utf8").split("\n"));
      const scores = mine.map((l) => scoreLog(sp, current, l.path, split));
      const bases = mine.map((l) => scoreLog(bsp, base, l.path, split));
      scores.forEach((x, i) => {
        const b = bases[i]!;
        files.push(
          `  ${x.file.padEnd(30)} failures ${x.failuresShipped}/${x.failures} (before ${b.failuresShipped}), ` +
            `noise ${x.noiseShipped}/${x.noise} (before ${b.noiseShipped})`,
        );
      });
      const t = total(scores);
      const b = total(bases);
      rows.push({
        ...t,
        baseline: {
          recall: b.recall,
          noiseShare: b.noiseShare,
          failuresShipped: b.failuresShipped,
          noiseShipped: b.noiseShipped,
        },
      });
    }
    const nsNow = costPerRecord(service, current, lines);
    const nsBase = costPerRecord(service, base, lines);
    for (const r of rows)
      if (r.service === service) Object.assign(r, { nsPerLine: nsNow, baselineNsPerLine: nsBase });
  }
  if (json) {
    console.log(JSON.stringify({ baseline, rows }, null, 2));
    return;
  }
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`.padStart(6);
  console.log(`baseline: patterns at ${baseline.slice(0, 10)}, no catch-all`);
  console.log(
    "service   split  failures  recall (baseline)   noise  shipped (baseline)  steps  ns/line (baseline)",
  );
  for (const r of rows as Array<(typeof rows)[number] & { nsPerLine: number; baselineNsPerLine: number }>) {
    console.log(
      `${r.service.padEnd(9)} ${r.split.padEnd(5)} ${String(r.failures).padStart(8)}  ${pct(r.recall)} (${pct(r.baseline.recall)})  ` +
        `${String(r.noise).padStart(6)}  ${pct(r.noiseShare)} (${pct(r.baseline.noiseShare)})  ` +
        `${r.stepsShipped}/${r.steps}`.padStart(6) +
        `  ${r.nsPerLine.toFixed(0).padStart(5)} (${r.baselineNsPerLine.toFixed(0)})`,
    );
  }
  // nginx/held2.log is the held-out log made after the last change to the patterns (see the README there).
  console.log("per log (shipped/labelled):");
  for (const f of files) console.log(f);
}

main();
