import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { groupingAccuracy, loadLoghub } from "./accuracy.ts";
import { defaultSetting, gaMatrix, leaveOneOut, type Setting, sameSetting, settingName } from "./loo.ts";

// MCP_LOGHUB_DIR points elsewhere (a test of the CI rule below uses a folder that does not exist).
const LOGHUB = process.env.MCP_LOGHUB_DIR ?? join(import.meta.dir, "../../../shared/data/loghub");

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

  // The LogHub samples sit beside the repository (../shared/data/loghub). A developer without them
  // skips this; CI has them, so there a missing folder is a failure, not a silent skip.
  const present = existsSync(LOGHUB);
  test.if(!present && process.env.CI === "true")("the LogHub samples are present in CI", () => {
    throw new Error(`${LOGHUB} is missing: CI must run the grouping accuracy test`);
  });

  // Issue 11: mean GA >= 0.90 with one setting, no dataset below 0.6, and the same when each dataset
  // is scored with the setting chosen WITHOUT it (leave-one-dataset-out). The grid here is the
  // default's neighbourhood, to stay quick; bench/grouping.ts runs the whole grid.
  test.skipIf(!present)(
    "one setting, scored leave-one-dataset-out, keeps GA >= 0.90 and every dataset >= 0.6",
    () => {
      const sets = loadLoghub(LOGHUB);
      expect(sets.length).toBe(8);
      const def = defaultSetting();
      const grid: Setting[] = [def];
      for (const similarity of [0.7, 0.75, 0.8])
        for (const depth of [2, 3])
          for (const keyValues of [true, false]) {
            const s = { ...def, similarity, depth, mask: { ...def.mask, keyValues } };
            if (!sameSetting(s, def)) grid.push(s);
          }
      const ga = gaMatrix(sets, grid);
      const loo = leaveOneOut(
        sets.map((d) => d.name),
        ga,
      );
      const plain = ga[0]!;
      expect(plain.reduce((a, b) => a + b, 0) / plain.length).toBeGreaterThanOrEqual(0.9);
      expect(loo.mean).toBeGreaterThanOrEqual(0.9);
      expect(Math.min(...loo.rows.map((r) => r.ga), ...plain)).toBeGreaterThanOrEqual(0.6);
      // The default is the setting that wins on all eight.
      expect(settingName(grid[loo.overall]!)).toBe(settingName(def));
    },
  );
});
