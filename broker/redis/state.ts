import type { StreamFields } from "../../core/schemas/codec.ts";
import { DEFAULT_CAPS, type Keys } from "../keys.ts";
import type { StatePort, Versioned } from "../types.ts";
import type { Connections } from "./connection.ts";
import { runScript } from "./scripts/script.ts";
import {
  BUDGET_RESERVE,
  BUDGET_SETTLE,
  BUDGET_USED,
  GET_RECORD,
  LIST_RECORDS,
  PUT_RECORD,
  PUT_RECORD_IF_UNMARKED,
} from "./scripts/state.ts";

/** Audit events as the record scripts take them: a JSON list of flat [field, value, …] lists. */
function flatEvents(events: StreamFields[] | undefined): string {
  return JSON.stringify((events ?? []).map((f) => Object.entries(f).flat()));
}

/** The state half of the Redis broker: versioned records, cache, seen keys, kv, hashes, budget. */
export function redisState(conn: Connections, keys: Keys): StatePort {
  const rec = (kind: Parameters<Keys["records"]>[0]) => [keys.records(kind), `${keys.records(kind)}:version`];
  const budget = (name: string) => [keys.budget(name), `${keys.budget(name)}:amounts`];

  return {
    async getRecord<T>(kind: Parameters<Keys["records"]>[0], id: string): Promise<Versioned<T> | null> {
      const raw = await conn.run("getRecord", (r) => runScript(r, GET_RECORD, rec(kind), [id]));
      if (!Array.isArray(raw)) return null;
      return { version: Number(raw[0]), value: JSON.parse(String(raw[1])) as T };
    },

    async putRecord(kind, id, value, expectedVersion, events) {
      const json = JSON.stringify(value);
      const raw = await conn.run("putRecord", (r) =>
        runScript(
          r,
          PUT_RECORD,
          [...rec(kind), keys.events],
          [id, json, expectedVersion, DEFAULT_CAPS.events, flatEvents(events)],
        ),
      );
      return raw === null || raw === undefined ? null : Number(raw);
    },

    async putRecordIfUnmarked(kind, id, value, expectedVersion, mark, events) {
      const json = JSON.stringify(value);
      const raw = await conn.run("putRecordIfUnmarked", (r) =>
        runScript(
          r,
          PUT_RECORD_IF_UNMARKED,
          [...rec(kind), keys.kv(mark.key), keys.events],
          [id, json, expectedVersion, mark.value, ttlOf(mark.ttlMs), DEFAULT_CAPS.events, flatEvents(events)],
        ),
      );
      if (raw === null || raw === undefined) return null;
      return Number(raw) === -1 ? "marked" : Number(raw);
    },

    async deleteRecord(kind, id) {
      const [values, versions] = rec(kind) as [string, string];
      const res = await conn.run("deleteRecord", (r) => r.multi().hdel(values, id).hdel(versions, id).exec());
      return Number(res?.[0]?.[1] ?? 0) > 0;
    },

    async listRecords<T>(kind: Parameters<Keys["records"]>[0]): Promise<Versioned<T>[]> {
      const raw = await conn.run("listRecords", (r) => runScript(r, LIST_RECORDS, rec(kind), []));
      const out: Versioned<T>[] = [];
      if (!Array.isArray(raw)) return out;
      for (let i = 0; i + 2 < raw.length; i += 3) {
        out.push({ version: Number(raw[i + 1]), value: JSON.parse(String(raw[i + 2])) as T });
      }
      return out;
    },

    async cacheGet(key) {
      return await conn.run("cacheGet", (r) => r.get(keys.cache(key)));
    },

    async cacheSet(key, value, ttlMs) {
      await conn.run("cacheSet", (r) => r.set(keys.cache(key), value, "PX", ttlOf(ttlMs)));
    },

    async markSeen(key, ttlMs) {
      const res = await conn.run("markSeen", (r) => r.set(keys.seen(key), "1", "PX", ttlOf(ttlMs), "NX"));
      return res === "OK";
    },

    async unmarkSeen(key) {
      await conn.run("unmarkSeen", (r) => r.del(keys.seen(key)));
    },

    async kvGet(key) {
      return await conn.run("kvGet", (r) => r.get(keys.kv(key)));
    },

    async kvSet(key, value, opts = {}) {
      const args: (string | number)[] = [];
      if (opts.ttlMs !== undefined) args.push("PX", ttlOf(opts.ttlMs));
      if (opts.ifAbsent) args.push("NX");
      const res = await conn.run("kvSet", (r) => r.call("SET", keys.kv(key), value, ...args));
      return res === "OK";
    },

    async kvDelete(key) {
      await conn.run("kvDelete", (r) => r.del(keys.kv(key)));
    },

    async hashGetAll(key) {
      return await conn.run("hashGetAll", (r) => r.hgetall(keys.hash(key)));
    },

    async hashSet(key, values) {
      if (Object.keys(values).length === 0) return;
      await conn.run("hashSet", (r) => r.hset(keys.hash(key), values));
    },

    async budgetReserve(name, req) {
      const args = [req.reservationId, req.amount, req.limit, req.windowMs];
      const raw = (await conn.run("budgetReserve", (r) =>
        runScript(r, BUDGET_RESERVE, budget(name), args),
      )) as number[];
      return { granted: Number(raw[0]) === 1, used: Number(raw[1]), retryAfterMs: Number(raw[2]) };
    },

    async budgetSettle(name, reservationId, actual) {
      await conn.run("budgetSettle", (r) =>
        runScript(r, BUDGET_SETTLE, budget(name), [reservationId, actual]),
      );
    },

    async budgetUsed(name, windowMs) {
      return Number(await conn.run("budgetUsed", (r) => runScript(r, BUDGET_USED, budget(name), [windowMs])));
    },
  };
}

/** PX needs a positive integer; a TTL below 1 ms would be an error from Redis. */
function ttlOf(ms: number): number {
  return Math.max(1, Math.ceil(ms));
}
