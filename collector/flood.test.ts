import { expect, test } from "bun:test";
import { FloodControl, type FoldTarget, floodTemplate } from "./flood.ts";

test("past N per second, records of one key fold into one event with count and first/last offsets", () => {
  const fc = new FloodControl<{ first: number }>(3);
  const folds: Array<FoldTarget<{ first: number }>> = [];
  const verdicts = [];
  for (let i = 0; i < 10; i++)
    verdicts.push(
      fc.admit(
        "k",
        i * 100,
        1000 + i,
        () => ({ first: i * 100 }),
        (f) => folds.push(f),
      ),
    );
  expect(verdicts.filter((v) => v === "pass").length).toBe(3);
  // The fold is open: the checkpoint must stay at its first offset until the window closes.
  expect(fc.oldestOpen()).toBe(300);
  expect(folds).toEqual([]);
  fc.expire(2000, (f) => folds.push(f));
  expect(folds).toEqual([{ event: { first: 300 }, first: 300, last: 900, count: 7 }]);
  expect(fc.oldestOpen()).toBe(Number.POSITIVE_INFINITY);
  // 3 passed + 7 folded: every record accounted for.
  expect(3 + folds[0]!.count).toBe(10);
});

test("keys fold independently and a new window starts counting again", () => {
  const fc = new FloodControl<number>(1);
  const folds: Array<FoldTarget<number>> = [];
  const emit = (f: FoldTarget<number>) => folds.push(f);
  expect(fc.admit("a", 0, 0, () => 0, emit)).toBe("pass");
  expect(fc.admit("b", 1, 0, () => 1, emit)).toBe("pass");
  expect(fc.admit("a", 2, 10, () => 2, emit)).toBe("folded");
  expect(fc.admit("a", 3, 1500, () => 3, emit)).toBe("pass"); // new window closes the old fold
  expect(folds.map((f) => [f.first, f.count])).toEqual([[2, 1]]);
});

test("templates mask numbers and hex ids", () => {
  expect(floodTemplate("conn *123 to 10.0.0.7:8080 id deadbeef12")).toBe(
    floodTemplate("conn *9 to 10.0.0.9:80 id 0123456789"),
  );
});

test("a fold that closes takes every open fold that began before its last offset with it", () => {
  type Ev = { key: string };
  const fc = new FloodControl<Ev>(1);
  const folds: Array<FoldTarget<Ev>> = [];
  const emit = (f: FoldTarget<Ev>) => folds.push(f);
  const admit = (key: string, offset: number, now: number) =>
    fc.admit(key, offset, now, () => ({ key }), emit);
  admit("b", 0, 1000); // b's window opens at 1000
  admit("a", 100, 1500); // a's at 1500
  admit("a", 200, 1500); // a folds from 200
  admit("b", 300, 1600); // b folds from 300…
  admit("b", 400, 1600); // …to 400
  expect(fc.oldestOpen()).toBe(200);
  // b's window expires, a's does not; a's fold (200) began before b's last offset (400): both go,
  // so that the checkpoint may pass 400. Left open, a crash would re-read and count b's fold again.
  fc.expire(2100, emit);
  expect(folds.map((f) => [f.event.key, f.first, f.last, f.count])).toEqual([
    ["b", 300, 400, 2],
    ["a", 200, 200, 1],
  ]);
  expect(fc.oldestOpen()).toBe(Number.POSITIVE_INFINITY);
  // a's window is still running: its next record starts a new fold instead of passing.
  expect(admit("a", 500, 2200)).toBe("folded");
  expect(fc.oldestOpen()).toBe(500);
});
