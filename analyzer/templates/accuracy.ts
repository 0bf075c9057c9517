/**
 * Grouping Accuracy (GA) and LogHub loading, shared by the benchmark and the accuracy test.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseCsvRecords } from "./csv.ts";
import { type MinerOptions, TemplateMiner } from "./miner.ts";

/**
 * GA: a line is correct when the set of lines in its predicted group equals exactly the set of lines
 * in its true group. Two groupings agree on a pair of groups exactly when the predicted group and the
 * true group have the same size and every member of one is in the other; counting each predicted
 * group's members by true label is enough to check that.
 */
export function groupingAccuracy(truth: readonly string[], predicted: readonly string[]): number {
  if (truth.length !== predicted.length) throw new Error("truth and prediction differ in length");
  if (truth.length === 0) return 1;
  const trueSize = new Map<string, number>();
  for (const t of truth) trueSize.set(t, (trueSize.get(t) ?? 0) + 1);
  // predicted group → (true label → count)
  const byPred = new Map<string, Map<string, number>>();
  for (let i = 0; i < truth.length; i++) {
    let m = byPred.get(predicted[i]!);
    if (!m) {
      m = new Map();
      byPred.set(predicted[i]!, m);
    }
    m.set(truth[i]!, (m.get(truth[i]!) ?? 0) + 1);
  }
  let correct = 0;
  for (const m of byPred.values()) {
    if (m.size !== 1) continue;
    const [label, n] = m.entries().next().value as [string, number];
    if (trueSize.get(label) === n) correct += n;
  }
  return correct / truth.length;
}

export interface LoghubDataset {
  name: string;
  lineIds: string[];
  contents: string[];
  eventIds: string[];
}

/** Read `<D>/<D>_2k.log_structured.csv` for every dataset folder under `dir`, sorted by name. */
export function loadLoghub(dir: string): LoghubDataset[] {
  const out: LoghubDataset[] = [];
  for (const name of readdirSync(dir).sort()) {
    const file = join(dir, name, `${name}_2k.log_structured.csv`);
    if (!existsSync(file)) continue;
    const recs = parseCsvRecords(readFileSync(file, "utf8"));
    out.push({
      name,
      lineIds: recs.map((r) => r.LineId ?? ""),
      contents: recs.map((r) => r.Content ?? ""),
      eventIds: recs.map((r) => r.EventId ?? ""),
    });
  }
  return out;
}

/** Group messages with a fresh miner; returns the final cluster id of every message. */
export function groupMessages(messages: readonly string[], opts: MinerOptions = {}): string[] {
  const miner = new TemplateMiner(opts);
  const ids = messages.map((m) => miner.add(m).clusterId);
  // Ids given early may have been merged since; judge the grouping as it stands at the end.
  return ids.map((id) => miner.resolve(id) ?? id);
}

/** Drain's published GA on LogHub 2k (He et al. 2017, tuned per dataset), for comparison. */
export const DRAIN_GA: Record<string, number> = {
  HDFS: 0.998,
  Spark: 0.92,
  BGL: 0.963,
  Thunderbird: 0.955,
  Linux: 0.69,
  HealthApp: 0.78,
  OpenSSH: 0.788,
  Mac: 0.787,
};
