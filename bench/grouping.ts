/**
 * Grouping benchmark: Grouping Accuracy of the template miner on the LogHub 2k samples, beside
 * Drain's published figures, and mining throughput.
 *
 *   bun bench/grouping.ts [--data DIR] [--json]
 *
 * One miner setting for every dataset (the defaults), as in production where nobody tunes per file.
 */
import { dirname, resolve } from "node:path";
import { DRAIN_GA, groupingAccuracy, groupMessages, loadLoghub } from "../analyzer/templates/accuracy.ts";
import { TemplateMiner } from "../analyzer/templates/miner.ts";

/** Repeats of the whole corpus for the throughput figure: enough for a few seconds of steady work. */
const REPEATS = 20;
const ROUNDS = 3;

function parseArgs(argv: string[]): { data: string; json: boolean } {
  const repoRoot = resolve(dirname(new URL(import.meta.url).pathname), "..");
  let data = resolve(repoRoot, "../shared/data/loghub");
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--data") data = resolve(argv[++i] ?? "");
    else if (argv[i] === "--json") json = true;
    else throw new Error(`unknown argument ${argv[i]}; usage: grouping.ts [--data DIR] [--json]`);
  }
  return { data, json };
}

function main(): void {
  const { data, json } = parseArgs(process.argv.slice(2));
  const sets = loadLoghub(data);
  if (sets.length === 0) throw new Error(`no <D>/<D>_2k.log_structured.csv under ${data}`);

  const rows = sets.map((d) => {
    const predicted = groupMessages(d.contents);
    const ga = groupingAccuracy(d.eventIds, predicted);
    const groups = new Set(predicted).size;
    return { dataset: d.name, ga, drain: DRAIN_GA[d.name] ?? null, groups, truth: new Set(d.eventIds).size };
  });
  const mean = rows.reduce((s, r) => s + r.ga, 0) / rows.length;
  const drainRows = rows.filter((r) => r.drain !== null);
  const drainMean = drainRows.reduce((s, r) => s + (r.drain ?? 0), 0) / Math.max(1, drainRows.length);

  // Throughput: every dataset fed REPEATS times to one miner per dataset (as a worker keeps one per
  // service), after a warm-up pass so the JIT has compiled the hot path. The best of ROUNDS rounds
  // is reported: on a shared machine the slower rounds measure the neighbours, not the miner.
  for (const d of sets) groupMessages(d.contents);
  const rounds: number[] = [];
  let lines = 0;
  for (let round = 0; round < ROUNDS; round++) {
    lines = 0;
    const start = performance.now();
    for (const d of sets) {
      const miner = new TemplateMiner({ service: d.name });
      for (let r = 0; r < REPEATS; r++) for (const m of d.contents) miner.add(m);
      lines += d.contents.length * REPEATS;
    }
    rounds.push(lines / ((performance.now() - start) / 1000));
  }
  rounds.sort((a, b) => b - a);
  const linesPerSecond = Math.round(rounds[0]!);
  const medianLinesPerSecond = Math.round(rounds[Math.floor(rounds.length / 2)]!);

  if (json) {
    console.log(
      JSON.stringify({ rows, mean, drainMean, linesPerSecond, medianLinesPerSecond, lines }, null, 2),
    );
    return;
  }
  const pad = (s: string, n: number) => s.padEnd(n);
  console.log(`${pad("dataset", 12)} ${pad("GA", 6)} ${pad("Drain", 6)} groups/true`);
  for (const r of rows) {
    const drain = r.drain === null ? "-" : r.drain.toFixed(3);
    console.log(`${pad(r.dataset, 12)} ${pad(r.ga.toFixed(3), 6)} ${pad(drain, 6)} ${r.groups}/${r.truth}`);
  }
  console.log(`${pad("mean", 12)} ${pad(mean.toFixed(3), 6)} ${pad(drainMean.toFixed(3), 6)}`);
  const fmt = (n: number) => n.toLocaleString("en-US");
  console.log(
    `throughput: ${fmt(linesPerSecond)} lines/s best of ${ROUNDS} rounds (median ${fmt(medianLinesPerSecond)}), ` +
      `${fmt(lines)} lines per round`,
  );
}

main();
