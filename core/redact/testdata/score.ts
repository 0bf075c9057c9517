/**
 * Scores redact() on the labelled corpus captured from real programs (captured.json, built by
 * bench/redact-corpus/capture.ts): per family and split, the share of secret lines from which
 * every secret fragment is gone (recall), and the share of look-alike lines that were changed at
 * all (false positives). Used by corpus.test.ts and bench/redact.bench.ts.
 */
import type { LabelledLine, Split } from "../../../bench/redact-corpus/label.ts";
import { redact } from "../engine.ts";
import captured from "./captured.json" with { type: "json" };

export type { LabelledLine, Split };
export const CAPTURED = captured as LabelledLine[];

export interface FamilyScore {
  family: string;
  split: Split;
  lines: number;
  /** Lines whose secrets all went (secret families) or that came out unchanged (look-alikes). */
  ok: number;
  /** The lines that failed: a fragment survived, or a look-alike changed. */
  failures: Array<{ line: string; out: string; source: string }>;
}

/** One row per (family, split), look-alikes as family "lookalike"; `fn` lets the bench score a baseline. */
export function score(
  lines: readonly LabelledLine[] = CAPTURED,
  fn: (text: string) => { text: string } = redact,
): FamilyScore[] {
  const rows = new Map<string, FamilyScore>();
  for (const l of lines) {
    const key = `${l.family}/${l.split}`;
    let row = rows.get(key);
    if (!row) {
      row = { family: l.family, split: l.split, lines: 0, ok: 0, failures: [] };
      rows.set(key, row);
    }
    const out = fn(l.line).text;
    const good =
      l.family === "lookalike"
        ? out === l.line
        : l.secrets.every((s) => !out.includes(s)) && l.keep.every((k) => out.includes(k));
    row.lines++;
    if (good) row.ok++;
    else row.failures.push({ line: l.line, out, source: l.source });
  }
  return [...rows.values()].sort(
    (a, b) => a.family.localeCompare(b.family) || a.split.localeCompare(b.split),
  );
}
