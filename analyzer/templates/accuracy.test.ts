import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { groupingAccuracy, groupMessages, loadLoghub } from "./accuracy.ts";

const LOGHUB = join(import.meta.dir, "../../../shared/data/loghub");

describe("grouping accuracy", () => {
  test("a line is correct only when its predicted group is exactly its true group", () => {
    const truth = ["A", "A", "B", "B", "C", "D"];
    // A: exact (2 correct). B split in two (0). C and D merged (0).
    const pred = ["x", "x", "y", "z", "w", "w"];
    expect(groupingAccuracy(truth, pred)).toBeCloseTo(2 / 6);
    // Labels are only names: a renamed perfect grouping scores 1.
    expect(groupingAccuracy(truth, ["1", "1", "2", "2", "3", "4"])).toBe(1);
    // A predicted group holding all of A plus one B line is wrong for all its lines.
    expect(groupingAccuracy(truth, ["x", "x", "x", "y", "z", "w"])).toBeCloseTo(2 / 6);
  });

  test("lengths must agree", () => {
    expect(() => groupingAccuracy(["A"], [])).toThrow();
  });

  // The goal from the issue: mean GA ≥ 0.90 over the eight LogHub samples with one setting (the
  // defaults). Reached: 0.943 at the time of writing (bench/grouping.ts prints the table).
  test.skipIf(!existsSync(LOGHUB))("mean GA on LogHub 2k is at least 0.90 with the default setting", () => {
    const sets = loadLoghub(LOGHUB);
    expect(sets.length).toBe(8);
    const scores = sets.map((d) => groupingAccuracy(d.eventIds, groupMessages(d.contents)));
    const mean = scores.reduce((a, b) => a + b, 0) / scores.length;
    expect(mean).toBeGreaterThanOrEqual(0.9);
  });
});
