/**
 * Leave-one-dataset-out choice of the miner's settings. A setting chosen by its mean GA on the
 * datasets it is then scored on is fitted to them: on a log nobody tuned for, it does worse. Here
 * each dataset is scored with the setting that wins on the OTHER datasets, which is what a log
 * never seen meets in production. The default is the setting that wins on all of them under the
 * same grid, and is only as good as its leave-one-out figure says.
 */

import { groupingAccuracy, groupMessages, type LoghubDataset } from "./accuracy.ts";
import type { MaskOptions } from "./mask.ts";
import { DEFAULT_MASK } from "./mask.ts";
import { MINER_DEFAULTS, type MinerOptions } from "./miner.ts";

/** One point of the grid: every knob the miner has. */
export interface Setting {
  similarity: number;
  wideSimilarity: number;
  depth: number;
  mask: MaskOptions;
}

export function settingName(s: Setting): string {
  const m = [
    s.mask.maskDigits ? "digits" : "",
    s.mask.collapseRuns ? "runs" : "",
    s.mask.hostPorts ? "hostport" : "",
    s.mask.keyValues ? "kv" : "",
  ]
    .filter(Boolean)
    .join("+");
  return `sim=${s.similarity} wide=${s.wideSimilarity} depth=${s.depth} mask=${m}`;
}

/** The grid searched: similarity, the stricter threshold across buckets, depth and masking. */
export function settingsGrid(): Setting[] {
  const out: Setting[] = [];
  const flags = [true, false];
  for (const similarity of [0.6, 0.65, 0.7, 0.75, 0.8, 0.85])
    for (const wideSimilarity of [0.9, 1])
      for (const depth of [2, 3])
        for (const maskDigits of flags)
          for (const collapseRuns of flags)
            for (const hostPorts of flags)
              for (const keyValues of flags)
                out.push({
                  similarity,
                  wideSimilarity,
                  depth,
                  mask: { maskDigits, collapseRuns, hostPorts, keyValues },
                });
  return out;
}

/** The setting a miner built without options uses. */
export function defaultSetting(): Setting {
  return { ...MINER_DEFAULTS, mask: { ...DEFAULT_MASK } };
}

/** True when two settings are the same point of the grid. */
export function sameSetting(a: Setting, b: Setting): boolean {
  const m = (x: MaskOptions) => [x.maskDigits, x.collapseRuns, !!x.hostPorts, !!x.keyValues].join();
  return (
    a.similarity === b.similarity &&
    a.wideSimilarity === b.wideSimilarity &&
    a.depth === b.depth &&
    m(a.mask) === m(b.mask)
  );
}

export function minerOptions(s: Setting): MinerOptions {
  return { similarity: s.similarity, wideSimilarity: s.wideSimilarity, depth: s.depth, mask: s.mask };
}

/** GA of every setting on every dataset: `ga[setting][dataset]`. */
export function gaMatrix(sets: readonly LoghubDataset[], grid: readonly Setting[]): number[][] {
  return grid.map((s) =>
    sets.map((d) => groupingAccuracy(d.eventIds, groupMessages(d.contents, minerOptions(s)))),
  );
}

export interface LooResult {
  /** Per dataset: the setting chosen without it and the GA it then scores on it. */
  rows: Array<{ dataset: string; chosen: number; ga: number }>;
  mean: number;
  /** The setting with the best mean over all datasets (what the default should be). */
  overall: number;
  overallMean: number;
}

/**
 * Leave-one-dataset-out over a precomputed GA matrix. Ties go to the earlier setting of the grid,
 * so the choice never depends on the held-out dataset.
 */
export function leaveOneOut(names: readonly string[], ga: readonly number[][]): LooResult {
  const bestExcept = (skip: number): number => {
    let best = 0;
    let bestScore = -1;
    ga.forEach((row, s) => {
      let sum = 0;
      for (let d = 0; d < row.length; d++) if (d !== skip) sum += row[d]!;
      if (sum > bestScore + 1e-12) {
        bestScore = sum;
        best = s;
      }
    });
    return best;
  };
  const rows = names.map((dataset, d) => {
    const chosen = bestExcept(d);
    return { dataset, chosen, ga: ga[chosen]![d]! };
  });
  const overall = bestExcept(-1);
  const mean = rows.reduce((a, r) => a + r.ga, 0) / Math.max(1, rows.length);
  const overallMean = ga[overall]!.reduce((a, x) => a + x, 0) / Math.max(1, names.length);
  return { rows, mean, overall, overallMean };
}
