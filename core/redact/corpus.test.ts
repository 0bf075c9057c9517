/**
 * The labelled corpus captured from real programs (testdata/captured.json): in the split the rules
 * were written from, every secret line loses every secret fragment and every look-alike line comes
 * out byte-identical; on the held-out split (never looked at while writing rules) each family
 * keeps at least 75 % recall and look-alikes stay under the 5 % false-positive goal.
 */
import { describe, expect, test } from "bun:test";
import { CAPTURED, score } from "./testdata/score.ts";

const rows = score();

describe("captured corpus, written split", () => {
  const written = CAPTURED.filter((l) => l.split === "written");
  test("holds every family of the issue and look-alikes", () => {
    const families = new Set<string>(written.map((l) => l.family));
    for (const f of [
      "sql",
      "url",
      "redis",
      "query-header",
      "cookie",
      "cloud",
      "structured",
      "cli",
      "spacing",
      "lookalike",
    ])
      expect(families).toContain(f);
  });
  for (const r of rows.filter((x) => x.split === "written")) {
    test(`${r.family}: ${r.lines} lines, none fails`, () => {
      expect(r.failures).toEqual([]);
    });
  }
});

describe("captured corpus, held-out split", () => {
  for (const r of rows.filter((x) => x.split === "heldout")) {
    const goal = r.family === "lookalike" ? 0.95 : 0.75;
    test(`${r.family}: ${r.ok}/${r.lines} ≥ ${goal * 100} %`, () => {
      expect(r.ok / r.lines).toBeGreaterThanOrEqual(goal);
    });
  }
});
