/**
 * trimAcked in the broker contract (see contract.ts): work queues are trimmed to what every group
 * is done with, and nothing a group still has to process is ever deleted.
 */
import { describe, expect, test } from "bun:test";
import { encode } from "../core/schemas/codec.ts";
import { brokerPool, type MakeBroker } from "./contract.ts";
import type { Broker } from "./types.ts";

const msg = (n: number) => encode("test", { n });
const idsOf = async (b: Broker, s: string) => (await b.range(s)).map((e) => e.id);

export function trimContract(name: string, makeBroker: MakeBroker): void {
  describe(`${name} broker contract: trimAcked`, () => {
    const fresh = brokerPool(makeBroker);

    test("acknowledged entries go; pending and undelivered ones stay and can still be processed", async () => {
      const b = await fresh();
      const s = b.keys.errors;
      await b.ensureGroup(s, "g", "0");
      const ids = await b.append(
        s,
        Array.from({ length: 10 }, (_, i) => msg(i)),
      );
      await b.readGroup(s, "g", "a", { count: 6 });
      await b.ack(s, "g", [ids[0]!, ids[1]!, ids[2]!, ids[4]!]);
      // ids[3] and ids[5] are pending, ids[6..9] never delivered: the oldest pending one is the bound.
      expect(await b.trimAcked(s, { keep: 0 })).toBe(3);
      expect(await idsOf(b, s)).toEqual(ids.slice(3));
      const st = await b.stats(s);
      expect(st).toMatchObject({ length: 7, first_id: ids[3] });
      expect(st.groups[0]).toMatchObject({ pending: 2, lag: 4, last_delivered_id: ids[5] });
      expect(await b.trimAcked(s, { keep: 0 })).toBe(0);
      const own = await b.readGroup(s, "g", "a", { from: "0" });
      expect(own.map((d) => d.id)).toEqual([ids[3]!, ids[5]!]);
      expect(own[0]!.fields).toEqual(msg(3));
      await b.ack(s, "g", [ids[3]!, ids[5]!]);
      // Nothing pending: every delivered entry goes, the undelivered ones stay.
      expect(await b.trimAcked(s, { keep: 0 })).toBe(3);
      expect(await idsOf(b, s)).toEqual(ids.slice(6));
      const rest = await b.readGroup(s, "g", "a");
      expect(rest.map((d) => d.id)).toEqual(ids.slice(6));
      await b.ack(
        s,
        "g",
        rest.map((d) => d.id),
      );
      expect(await b.trimAcked(s, { keep: 0 })).toBe(4);
      expect((await b.stats(s)).length).toBe(0);
      // The stream and its group keep working.
      const [id] = await b.append(s, [msg(10)]);
      expect((await b.readGroup(s, "g", "a")).map((d) => d.id)).toEqual([id!]);
    });

    test("the newest `keep` entries stay even when acknowledged (the default keeps 1000)", async () => {
      const b = await fresh();
      const s = b.keys.fixes;
      await b.ensureGroup(s, "g", "0");
      const ids = await b.append(
        s,
        Array.from({ length: 10 }, (_, i) => msg(i)),
      );
      await b.ack(
        s,
        "g",
        (await b.readGroup(s, "g", "a")).map((d) => d.id),
      );
      expect(await b.trimAcked(s)).toBe(0);
      expect(await b.trimAcked(s, { keep: 20 })).toBe(0);
      expect(await b.trimAcked(s, { keep: 4 })).toBe(6);
      expect(await idsOf(b, s)).toEqual(ids.slice(6));
      expect(await b.trimAcked(s, { keep: 4 })).toBe(0);
    });

    test("two groups: the slower group decides", async () => {
      const b = await fresh();
      const s = b.keys.errors;
      await b.ensureGroup(s, "fast", "0");
      await b.ensureGroup(s, "slow", "0");
      const ids = await b.append(
        s,
        Array.from({ length: 8 }, (_, i) => msg(i)),
      );
      await b.ack(
        s,
        "fast",
        (await b.readGroup(s, "fast", "f")).map((d) => d.id),
      );
      // The slow group has acked two entries, holds a third, and has not seen the rest.
      await b.readGroup(s, "slow", "x", { count: 3 });
      await b.ack(s, "slow", [ids[0]!, ids[1]!]);
      expect(await b.trimAcked(s, { keep: 0 })).toBe(2);
      expect(await idsOf(b, s)).toEqual(ids.slice(2));
      await b.ack(s, "slow", [ids[2]!]);
      expect(await b.trimAcked(s, { keep: 0 })).toBe(1);
      expect(await idsOf(b, s)).toEqual(ids.slice(3));
      // Now the fast group falls behind: new entries it has not read hold the stream back.
      const more = await b.append(s, [msg(8), msg(9)]);
      await b.ack(
        s,
        "slow",
        (await b.readGroup(s, "slow", "x")).map((d) => d.id),
      );
      expect(await b.trimAcked(s, { keep: 0 })).toBe(5);
      expect(await idsOf(b, s)).toEqual(more);
      expect((await b.readGroup(s, "fast", "f")).map((d) => d.id)).toEqual(more);
    });

    test("a stream without groups is never trimmed; a missing stream trims nothing", async () => {
      const b = await fresh();
      await b.append(b.keys.events, [msg(1), msg(2), msg(3)]);
      expect(await b.trimAcked(b.keys.events, { keep: 0 })).toBe(0);
      expect((await b.stats(b.keys.events)).length).toBe(3);
      expect(await b.trimAcked(`${b.keys.prefix}never-written`, { keep: 0 })).toBe(0);
    });

    test("removeConsumers drops consumers that left, never one with pending entries", async () => {
      const b = await fresh();
      const s = b.keys.errors;
      await b.ensureGroup(s, "g", "0");
      const ids = await b.append(s, [msg(1), msg(2), msg(3)]);
      await b.readGroup(s, "g", "busy", { count: 1 });
      await b.readGroup(s, "g", "done", { count: 1 });
      await b.readGroup(s, "g", "idle", { count: 1 });
      await b.ack(s, "g", [ids[1]!, ids[2]!]);
      const names = async () => (await b.stats(s)).groups[0]!.consumers.map((c) => c.name).sort();
      expect(await names()).toEqual(["busy", "done", "idle"]);
      // A clean stop names its consumers; "busy" still holds ids[0] and stays.
      expect((await b.removeConsumers(s, "g", { names: ["busy", "done"] })).sort()).toEqual(["done"]);
      expect(await names()).toEqual(["busy", "idle"]);
      await Bun.sleep(30);
      expect(await b.removeConsumers(s, "g", { idleMs: 10 })).toEqual(["idle"]);
      expect(await names()).toEqual(["busy"]);
      // Its entry is still pending and can be claimed.
      expect((await b.claimIdle(s, "g", "other", 0)).entries.map((d) => d.id)).toEqual([ids[0]!]);
      expect(await b.removeConsumers(`${b.keys.prefix}never-written`, "g", { names: ["x"] })).toEqual([]);
    });
  });
}
