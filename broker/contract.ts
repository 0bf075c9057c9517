/**
 * One contract suite for every Broker implementation: the Redis and the embedded broker must
 * behave the same to every component. Run it with `brokerContract(name, makeBroker)` from a
 * `*.test.ts` file; `makeBroker(prefix)` returns a fresh broker whose keys use that prefix, so
 * tests never share state and their order never matters.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { isMcpError } from "../core/errors.ts";
import { decode, encode } from "../core/schemas/codec.ts";
import { DeadLetter } from "../core/schemas/event.ts";
import { stateContract } from "./contract-state.ts";
import { trimContract } from "./contract-trim.ts";
import type { Broker } from "./types.ts";

export type MakeBroker = (prefix: string) => Promise<Broker> | Broker;

let seq = 0;
/** A prefix no other test (or earlier run against the same server) uses. */
export function uniquePrefix(): string {
  return `t${process.pid}-${Date.now().toString(36)}-${seq++}:`;
}

/** Open brokers and close them after each test, so a failing test never leaks connections. */
export function brokerPool(makeBroker: MakeBroker) {
  const open: Broker[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((b) => b.close()));
  });
  return async (prefix = uniquePrefix()): Promise<Broker> => {
    const b = await makeBroker(prefix);
    open.push(b);
    return b;
  };
}

const msg = (n: number) => encode("test", { n, pad: "x".repeat(50) });

export function brokerContract(name: string, makeBroker: MakeBroker): void {
  describe(`${name} broker contract: streams`, () => {
    const fresh = brokerPool(makeBroker);

    test("append returns increasing ids; range and read return the entries in order", async () => {
      const b = await fresh();
      const s = b.keys.errors;
      const ids = await b.append(s, [msg(1), msg(2), msg(3)]);
      expect(ids).toHaveLength(3);
      expect(ids.every((id) => /^\d+-\d+$/.test(id))).toBe(true);
      expect(new Set(ids).size).toBe(3);
      const all = await b.range(s);
      expect(all.map((e) => e.id)).toEqual(ids);
      expect(all[1]!.fields).toEqual(msg(2));
      expect((await b.range(s, ids[1], "+", 1)).map((e) => e.id)).toEqual([ids[1]!]);
      expect((await b.read(s, "0")).map((e) => e.id)).toEqual(ids);
      expect((await b.read(s, ids[1]!)).map((e) => e.id)).toEqual([ids[2]!]);
      expect(await b.append(s, [])).toEqual([]);
    });

    test("maxLen caps the stream approximately", async () => {
      const b = await fresh();
      const batch = Array.from({ length: 1000 }, (_, i) => msg(i));
      await b.append(b.keys.events, batch, { maxLen: 100 });
      const { length } = await b.stats(b.keys.events);
      expect(length).toBeGreaterThanOrEqual(100);
      expect(length).toBeLessThan(1000);
    });

    test("a group delivers each entry to one consumer once; ack removes it from pending", async () => {
      const b = await fresh();
      const s = b.keys.errors;
      await b.ensureGroup(s, "g", "0");
      await b.ensureGroup(s, "g", "0"); // idempotent
      const ids = await b.append(s, [msg(1), msg(2), msg(3)]);
      const a = await b.readGroup(s, "g", "a", { count: 2 });
      const c = await b.readGroup(s, "g", "c", { count: 10 });
      expect(a.map((d) => d.id)).toEqual(ids.slice(0, 2));
      expect(c.map((d) => d.id)).toEqual(ids.slice(2));
      expect([...a, ...c].every((d) => d.deliveries === 1)).toBe(true);
      expect(a[0]!.fields).toEqual(msg(1));
      expect(await b.readGroup(s, "g", "a")).toEqual([]);
      expect(await b.ack(s, "g", [ids[0]!, ids[1]!])).toBe(2);
      expect(await b.ack(s, "g", [ids[0]!])).toBe(0);
      expect(await b.ack(s, "g", [])).toBe(0);
      const st = await b.stats(s);
      expect(st.groups[0]!.pending).toBe(1);
    });

    test("a group created with $ sees only new entries", async () => {
      const b = await fresh();
      const s = b.keys.fixes;
      await b.append(s, [msg(1)]);
      await b.ensureGroup(s, "g", "$");
      const [id] = await b.append(s, [msg(2)]);
      expect((await b.readGroup(s, "g", "x")).map((d) => d.id)).toEqual([id!]);
    });

    test("reading a missing group rejects with NOT_FOUND", async () => {
      const b = await fresh();
      await b.append(b.keys.errors, [msg(1)]);
      const err = await b.readGroup(b.keys.errors, "nope", "x").catch((e) => e);
      expect(isMcpError(err, "NOT_FOUND")).toBe(true);
    });

    test('from "0" returns only this consumer\'s pending entries, with real delivery counts', async () => {
      const b = await fresh();
      const s = b.keys.errors;
      await b.ensureGroup(s, "g", "0");
      const ids = await b.append(s, [msg(1), msg(2), msg(3)]);
      await b.readGroup(s, "g", "a", { count: 2 });
      await b.readGroup(s, "g", "other", { count: 1 });
      await b.ack(s, "g", [ids[1]!]);
      const own = await b.readGroup(s, "g", "a", { from: "0" });
      expect(own.map((d) => d.id)).toEqual([ids[0]!]);
      expect(own[0]!.fields).toEqual(msg(1));
      expect(own[0]!.deliveries).toBe(2);
      expect((await b.readGroup(s, "g", "a", { from: "0" }))[0]!.deliveries).toBe(3);
      expect(await b.readGroup(s, "g", "nobody", { from: "0" })).toEqual([]);
    });

    test("claimIdle takes over idle entries, counts deliveries and reports deleted ones", async () => {
      const b = await fresh();
      const s = b.keys.errors;
      await b.ensureGroup(s, "g", "0");
      const ids = await b.append(s, [msg(1), msg(2), msg(3)]);
      await b.readGroup(s, "g", "dead", { count: 3 });
      // Nothing is idle for a minute yet: nothing moves.
      const none = await b.claimIdle(s, "g", "live", 60_000);
      expect(none.entries).toEqual([]);
      await Bun.sleep(30);
      const first = await b.claimIdle(s, "g", "live", 20, { count: 2 });
      expect(first.entries.map((d) => d.id)).toEqual(ids.slice(0, 2));
      expect(first.entries.every((d) => d.deliveries === 2)).toBe(true);
      expect(first.entries[0]!.fields).toEqual(msg(1));
      expect(first.next).toBe(ids[2]!);
      const rest = await b.claimIdle(s, "g", "live", 20, { start: first.next });
      expect(rest.entries.map((d) => d.id)).toEqual([ids[2]!]);
      expect(rest.next).toBe("0-0");
      const st = await b.stats(s);
      const byName = Object.fromEntries(st.groups[0]!.consumers.map((c) => [c.name, c.pending]));
      expect(byName).toEqual({ dead: 0, live: 3 });
      // Entries trimmed away while pending are reported once as deleted and leave the PEL.
      expect(await b.clear(s)).toBe(3);
      const gone = await b.claimIdle(s, "g", "other", 0);
      expect(gone.entries).toEqual([]);
      expect(gone.deleted.sort()).toEqual([...ids].sort());
      expect((await b.stats(s)).groups[0]!.pending).toBe(0);
    });

    test("touch resets the idle time of this consumer's entries only, without counting a delivery", async () => {
      const b = await fresh();
      const s = b.keys.errors;
      await b.ensureGroup(s, "g", "0");
      const ids = await b.append(s, [msg(1), msg(2), msg(3), msg(4)]);
      await b.readGroup(s, "g", "busy", { count: 2 });
      await b.readGroup(s, "g", "other", { count: 2 });
      await b.ack(s, "g", [ids[1]!]);
      await Bun.sleep(300);
      // Only ids[0] is pending for "busy": ids[1] is acked, ids[2] belongs to another consumer,
      // the last id was never written.
      expect(await b.touch(s, "g", "busy", [ids[0]!, ids[1]!, ids[2]!, "9999999999999-0"])).toBe(1);
      expect(await b.touch(s, "g", "busy", [])).toBe(0);
      // Idle for 300 ms: only the other consumer's entries; the touched one was idle only since.
      const claimed = await b.claimIdle(s, "g", "thief", 200);
      expect(claimed.entries.map((d) => d.id)).toEqual([ids[2]!, ids[3]!]);
      expect(claimed.entries.every((d) => d.deliveries === 2)).toBe(true);
      const byName = Object.fromEntries(
        (await b.stats(s)).groups[0]!.consumers.map((c) => [c.name, c.pending]),
      );
      expect(byName).toEqual({ busy: 1, other: 0, thief: 2 });
      // The touched entry kept its delivery count: read again from "0" it is the second delivery.
      const own = await b.readGroup(s, "g", "busy", { from: "0" });
      expect(own.map((d) => [d.id, d.deliveries])).toEqual([[ids[0]!, 2]]);
      // "busy" no longer holds the claimed entries: touching them changes nothing.
      expect(await b.touch(s, "g", "busy", [ids[2]!, ids[3]!])).toBe(0);
      const err = await b.touch(s, "nope", "busy", [ids[0]!]).catch((e) => e);
      expect(isMcpError(err, "NOT_FOUND")).toBe(true);
    });

    test("deadLetter moves the entry to the DLQ with its facts and acks it", async () => {
      const b = await fresh();
      const s = b.keys.errors;
      await b.ensureGroup(s, "g", "0");
      const [id] = await b.append(s, [msg(7)]);
      const [d] = await b.readGroup(s, "g", "a");
      const dlqId = await b.deadLetter(s, "g", d!, "poison: bad json");
      const [entry] = await b.range(b.keys.dlq);
      expect(entry!.id).toBe(dlqId);
      expect(entry!.fields.type).toBe("dead_letter");
      const letter = decode(DeadLetter, entry!.fields);
      expect(letter).toMatchObject({
        stream: s,
        group: "g",
        entry_id: id,
        deliveries: 1,
        reason: "poison: bad json",
      });
      expect(letter.fields).toEqual(msg(7));
      expect(Date.parse(letter.failed_at)).toBeGreaterThan(0);
      expect((await b.stats(s)).groups[0]!.pending).toBe(0);
      expect(await b.readGroup(s, "g", "a", { from: "0" })).toEqual([]);
    });

    test("stats: length, ids, pending, lag, entries read, consumers, oldest pending", async () => {
      const b = await fresh();
      const s = b.keys.errors;
      expect(await b.stats(s)).toEqual({ name: s, length: 0, first_id: null, last_id: null, groups: [] });
      const ids = await b.append(s, [msg(1), msg(2), msg(3), msg(4)]);
      await b.ensureGroup(s, "g", "0");
      let st = await b.stats(s);
      expect(st).toMatchObject({ length: 4, first_id: ids[0], last_id: ids[3] });
      expect(st.groups[0]).toMatchObject({
        name: "g",
        pending: 0,
        lag: 4,
        oldest_pending_ms: 0,
        consumers: [],
      });
      await b.readGroup(s, "g", "a", { count: 3 });
      await Bun.sleep(20);
      st = await b.stats(s);
      const g = st.groups[0]!;
      expect(g).toMatchObject({ pending: 3, lag: 1, entries_read: 3, last_delivered_id: ids[2] });
      expect(g.oldest_pending_ms).toBeGreaterThanOrEqual(10);
      expect(g.consumers).toHaveLength(1);
      expect(g.consumers[0]).toMatchObject({ name: "a", pending: 3 });
      expect(g.consumers[0]!.idle_ms).toBeGreaterThanOrEqual(0);
      await b.ensureGroup(s, "late", "$");
      expect((await b.stats(s)).groups.find((x) => x.name === "late")).toMatchObject({ lag: 0, pending: 0 });
    });

    test("clear removes every entry, keeps groups, and the stream keeps working", async () => {
      const b = await fresh();
      const s = b.keys.errors;
      await b.ensureGroup(s, "g", "0");
      const old = await b.append(s, [msg(1), msg(2)]);
      expect(await b.clear(s)).toBe(2);
      expect(await b.clear(s)).toBe(0);
      const st = await b.stats(s);
      expect(st.length).toBe(0);
      expect(st.groups.map((g) => g.name)).toEqual(["g"]);
      const [id] = await b.append(s, [msg(3)]);
      expect(id! > old[1]! || id!.length > old[1]!.length).toBe(true);
      expect((await b.readGroup(s, "g", "a")).map((d) => d.id)).toEqual([id!]);
    });

    test("a blocking readGroup wakes on append; an idle one times out empty", async () => {
      const b = await fresh();
      const s = b.keys.errors;
      await b.ensureGroup(s, "g", "$");
      expect(await b.readGroup(s, "g", "a", { blockMs: 100 })).toEqual([]);
      const pending = b.readGroup(s, "g", "a", { blockMs: 20_000 });
      await Bun.sleep(50);
      const [id] = await b.append(s, [msg(1)]);
      expect((await pending).map((d) => d.id)).toEqual([id!]);
    });

    test("a blocking read wakes on append and times out empty", async () => {
      const b = await fresh();
      const s = b.keys.events;
      const [first] = await b.append(s, [msg(0)]);
      expect(await b.read(s, first!, { blockMs: 100 })).toEqual([]);
      const pending = b.read(s, first!, { blockMs: 20_000 });
      await Bun.sleep(50);
      const [id] = await b.append(s, [msg(1)]);
      expect((await pending).map((e) => e.id)).toEqual([id!]);
    });

    test("close makes pending blocking reads resolve empty", async () => {
      const b = await makeBroker(uniquePrefix());
      const s = b.keys.errors;
      await b.append(s, [msg(0)]);
      await b.ensureGroup(s, "g", "$");
      const started = Date.now();
      const reads = [b.readGroup(s, "g", "a", { blockMs: 30_000 }), b.read(s, "$", { blockMs: 30_000 })];
      await Bun.sleep(100);
      await b.close();
      expect(await Promise.all(reads)).toEqual([[], []]);
      expect(Date.now() - started).toBeLessThan(25_000);
      const err = await b.append(s, [msg(1)]).catch((e) => e);
      expect(isMcpError(err, "BROKER_UNAVAILABLE")).toBe(true);
    });

    test("health reports ok", async () => {
      const b = await fresh();
      const h = await b.health();
      expect(h).toMatchObject({ ok: true, kind: b.kind });
    });
  });

  trimContract(name, makeBroker);
  stateContract(name, makeBroker);
}
