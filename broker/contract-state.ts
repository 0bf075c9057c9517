/** The state half of the broker contract (see contract.ts). */
import { describe, expect, test } from "bun:test";
import { brokerPool, type MakeBroker } from "./contract.ts";

export function stateContract(name: string, makeBroker: MakeBroker): void {
  describe(`${name} broker contract: state`, () => {
    const fresh = brokerPool(makeBroker);

    test("records: create, compare-and-set, list, delete", async () => {
      const b = await fresh();
      expect(await b.getRecord("incident", "i1")).toBeNull();
      expect(await b.putRecord("incident", "i1", { status: "open" }, 0)).toBe(1);
      expect(await b.putRecord("incident", "i1", { status: "dup" }, 0)).toBeNull();
      expect(await b.putRecord("incident", "i1", { status: "stale" }, 5)).toBeNull();
      expect(await b.putRecord("incident", "i1", { status: "ack" }, 1)).toBe(2);
      expect(await b.getRecord("incident", "i1")).toEqual({ version: 2, value: { status: "ack" } });
      await b.putRecord("incident", "i2", { status: "open" }, 0);
      await b.putRecord("fix", "f1", { n: 1 }, 0);
      const list = await b.listRecords<{ status: string }>("incident");
      expect(list.map((r) => r.value.status).sort()).toEqual(["ack", "open"]);
      expect(list.find((r) => r.value.status === "ack")!.version).toBe(2);
      expect(await b.deleteRecord("incident", "i1")).toBe(true);
      expect(await b.deleteRecord("incident", "i1")).toBe(false);
      expect(await b.getRecord("incident", "i1")).toBeNull();
      expect(await b.putRecord("incident", "i1", { status: "reborn" }, 0)).toBe(1);
      expect(await b.listRecords("client")).toEqual([]);
    });

    test("two writers with the same expected version: exactly one wins", async () => {
      const b = await fresh();
      const other = await fresh(b.keys.prefix);
      await b.putRecord("fix", "f", { by: "init" }, 0);
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 ? b : other).putRecord("fix", "f", { by: i }, 1)),
      );
      const winners = results.map((r, i) => (r === 2 ? i : -1)).filter((i) => i >= 0);
      expect(winners).toHaveLength(1);
      expect(results.filter((r) => r === null)).toHaveLength(9);
      expect(await other.getRecord("fix", "f")).toEqual({ version: 2, value: { by: winners[0] } });
    });

    test("putRecordIfUnmarked writes the record and the mark together, once", async () => {
      const b = await fresh();
      const mark = { key: "seen:e1", value: "inc1", ttlMs: 60_000 };
      expect(await b.putRecordIfUnmarked("incident", "m1", { count: 1 }, 0, mark)).toBe(1);
      expect(await b.kvGet("seen:e1")).toBe("inc1");
      // The same event again: nothing is written, whatever the version.
      expect(await b.putRecordIfUnmarked("incident", "m1", { count: 2 }, 1, mark)).toBe("marked");
      expect((await b.getRecord("incident", "m1"))!.value).toEqual({ count: 1 });
      // A version conflict writes neither the record nor the mark.
      const other = { key: "seen:e2", value: "inc1", ttlMs: 60_000 };
      expect(await b.putRecordIfUnmarked("incident", "m1", { count: 2 }, 7, other)).toBeNull();
      expect(await b.kvGet("seen:e2")).toBeNull();
      expect(await b.putRecordIfUnmarked("incident", "m1", { count: 2 }, 1, other)).toBe(2);
    });

    test("a record change and its audit events are one step: written together, or neither on a conflict", async () => {
      const b = await fresh();
      const ev = (n: number) => ({ data: JSON.stringify({ n, text: 'quoted "x" and ünïcode' }) });
      expect(await b.putRecord("incident", "a1", { s: 1 }, 0, [ev(1), ev(2)])).toBe(1);
      expect(await b.putRecord("incident", "a1", { s: 2 }, 0, [ev(3)])).toBeNull();
      const mark = { key: "seen:a", value: "a1", ttlMs: 60_000 };
      expect(await b.putRecordIfUnmarked("incident", "a1", { s: 3 }, 1, mark, [ev(4)])).toBe(2);
      expect(await b.putRecordIfUnmarked("incident", "a1", { s: 4 }, 2, mark, [ev(5)])).toBe("marked");
      const events = await b.range(b.keys.events);
      expect(events.map((e) => JSON.parse(e.fields.data!).n)).toEqual([1, 2, 4]);
      expect(JSON.parse(events[0]!.fields.data!).text).toBe('quoted "x" and ünïcode');
    });

    test("cache values expire after their TTL", async () => {
      const b = await fresh();
      await b.cacheSet("k", "v", 60_000);
      await b.cacheSet("short", "v", 30);
      expect(await b.cacheGet("k")).toBe("v");
      expect(await b.cacheGet("missing")).toBeNull();
      await Bun.sleep(120);
      expect(await b.cacheGet("short")).toBeNull();
      expect(await b.cacheGet("k")).toBe("v");
    });

    test("markSeen is true once per key until it expires or is unmarked", async () => {
      const b = await fresh();
      expect(await b.markSeen("e1", 60_000)).toBe(true);
      expect(await b.markSeen("e1", 60_000)).toBe(false);
      await b.unmarkSeen("e1");
      expect(await b.markSeen("e1", 60_000)).toBe(true);
      expect(await b.markSeen("e2", 30)).toBe(true);
      await Bun.sleep(120);
      expect(await b.markSeen("e2", 60_000)).toBe(true);
      const results = await Promise.all(Array.from({ length: 20 }, () => b.markSeen("race", 60_000)));
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    test("kv: set, ifAbsent, ttl, delete", async () => {
      const b = await fresh();
      expect(await b.kvGet("pause")).toBeNull();
      expect(await b.kvSet("pause", "1", { ifAbsent: true })).toBe(true);
      expect(await b.kvSet("pause", "2", { ifAbsent: true })).toBe(false);
      expect(await b.kvGet("pause")).toBe("1");
      expect(await b.kvSet("pause", "3")).toBe(true);
      expect(await b.kvGet("pause")).toBe("3");
      await b.kvDelete("pause");
      expect(await b.kvGet("pause")).toBeNull();
      expect(await b.kvSet("lease", "me", { ttlMs: 30, ifAbsent: true })).toBe(true);
      await Bun.sleep(120);
      expect(await b.kvGet("lease")).toBeNull();
      expect(await b.kvSet("lease", "you", { ttlMs: 60_000, ifAbsent: true })).toBe(true);
    });

    test("hashes merge fields", async () => {
      const b = await fresh();
      expect(await b.hashGetAll("tpl")).toEqual({});
      await b.hashSet("tpl", { a: "1", b: "2" });
      await b.hashSet("tpl", { b: "3", c: "4" });
      await b.hashSet("tpl", {});
      expect(await b.hashGetAll("tpl")).toEqual({ a: "1", b: "3", c: "4" });
    });

    test("budget: 50 concurrent reservations never exceed the limit", async () => {
      const b = await fresh();
      const other = await fresh(b.keys.prefix);
      const req = (i: number) => ({ reservationId: `r${i}`, amount: 10, limit: 100, windowMs: 60_000 });
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => (i % 2 ? b : other).budgetReserve("claude", req(i))),
      );
      expect(results.filter((r) => r.granted)).toHaveLength(10);
      for (const r of results) expect(r.used).toBeLessThanOrEqual(100);
      for (const r of results.filter((x) => !x.granted)) {
        expect(r.retryAfterMs).toBeGreaterThan(0);
        expect(r.retryAfterMs).toBeLessThanOrEqual(60_000);
      }
      expect(await b.budgetUsed("claude", 60_000)).toBe(100);
      // Re-reserving a granted id is idempotent.
      const again = await b.budgetReserve("claude", req(results.findIndex((r) => r.granted)));
      expect(again).toMatchObject({ granted: true, used: 100 });
    });

    test("budget: retryAfterMs says when enough has expired; settle replaces the amount", async () => {
      const b = await fresh();
      const w = 300;
      expect(
        await b.budgetReserve("t", { reservationId: "a", amount: 60, limit: 100, windowMs: w }),
      ).toMatchObject({
        granted: true,
        used: 60,
      });
      const denied = await b.budgetReserve("t", { reservationId: "b", amount: 50, limit: 100, windowMs: w });
      expect(denied.granted).toBe(false);
      expect(denied.used).toBe(60);
      expect(denied.retryAfterMs).toBeGreaterThan(0);
      expect(denied.retryAfterMs).toBeLessThanOrEqual(w);
      await b.budgetSettle("t", "a", 20);
      expect(await b.budgetUsed("t", w)).toBe(20);
      expect(
        (await b.budgetReserve("t", { reservationId: "b", amount: 50, limit: 100, windowMs: w })).granted,
      ).toBe(true);
      const full = await b.budgetReserve("t", { reservationId: "c", amount: 40, limit: 100, windowMs: w });
      expect(full.granted).toBe(false);
      await Bun.sleep(full.retryAfterMs + 20);
      expect(
        (await b.budgetReserve("t", { reservationId: "c", amount: 40, limit: 100, windowMs: w })).granted,
      ).toBe(true);
      const huge = await b.budgetReserve("t", { reservationId: "h", amount: 101, limit: 100, windowMs: w });
      expect(huge).toMatchObject({ granted: false, retryAfterMs: w });
      await Bun.sleep(w + 20);
      expect(await b.budgetUsed("t", w)).toBe(0);
    });
  });
}
