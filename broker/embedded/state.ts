import type { StreamFields } from "../../core/schemas/codec.ts";
import { DEFAULT_CAPS, type Keys, type RecordKind } from "../keys.ts";
import type { StatePort, Versioned } from "../types.ts";
import type { Db } from "./db.ts";

/** The state half of the embedded broker: the same semantics as the Redis scripts. */
export function embeddedState(
  db: Db,
  keys: Keys,
  events: {
    appendTx: (stream: string, entries: StreamFields[], maxLen?: number) => string[];
    notify: () => void;
  },
): StatePort {
  const q = db.sql;
  /** A record change's audit events, in the change's own transaction. */
  const withEvents = (list: StreamFields[] | undefined) => {
    if (list?.length) events.appendTx(keys.events, list, DEFAULT_CAPS.events);
  };
  let lastPurge = 0;

  /** Compare-and-set of one record; call inside a write transaction. New version, or null on conflict. */
  const casRecord = (k: string, id: string, json: string, expectedVersion: number): number | null => {
    const row = q
      .query<{ version: number }, [string, string]>("SELECT version FROM records WHERE kind = ? AND id = ?")
      .get(k, id);
    if ((row?.version ?? 0) !== expectedVersion) return null;
    q.query("INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?)").run(k, id, expectedVersion + 1, json);
    return expectedVersion + 1;
  };

  const kvGet = (what: string, key: string): string | null =>
    db.read(what, () => {
      const row = q
        .query<{ value: string }, [string, number]>(
          "SELECT value FROM kv WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)",
        )
        .get(key, Date.now());
      return row?.value ?? null;
    });

  /** SET key value [PX ttl] [NX] in one transaction; an expired key counts as absent. */
  const kvSet = (what: string, key: string, value: string, ttlMs?: number, ifAbsent = false): boolean =>
    db.write(what, () => {
      const now = Date.now();
      // Expired rows are dropped lazily (as Redis does on access) and swept at most once a minute.
      if (now - lastPurge > 60_000) {
        lastPurge = now;
        q.query("DELETE FROM kv WHERE expires_at <= ?").run(now);
      } else q.query("DELETE FROM kv WHERE key = ? AND expires_at <= ?").run(key, now);
      const expires = ttlMs === undefined ? null : now + Math.max(1, Math.ceil(ttlMs));
      const sql = ifAbsent
        ? "INSERT OR IGNORE INTO kv VALUES (?, ?, ?)"
        : "INSERT OR REPLACE INTO kv VALUES (?, ?, ?)";
      return q.query(sql).run(key, value, expires).changes > 0;
    });

  const del = (what: string, key: string) =>
    db.write(what, () => q.query("DELETE FROM kv WHERE key = ?").run(key));

  return {
    async getRecord<T>(kind: RecordKind, id: string): Promise<Versioned<T> | null> {
      const row = db.read("getRecord", () =>
        q
          .query<{ version: number; json: string }, [string, string]>(
            "SELECT version, json FROM records WHERE kind = ? AND id = ?",
          )
          .get(keys.records(kind), id),
      );
      return row ? { version: row.version, value: JSON.parse(row.json) as T } : null;
    },

    async putRecord(kind, id, value, expectedVersion, list) {
      const json = JSON.stringify(value);
      const version = db.write("putRecord", () => {
        const v = casRecord(keys.records(kind), id, json, expectedVersion);
        if (v !== null) withEvents(list);
        return v;
      });
      if (version !== null && list?.length) events.notify();
      return version;
    },

    async putRecordIfUnmarked(kind, id, value, expectedVersion, mark, list) {
      const json = JSON.stringify(value);
      const markKey = keys.kv(mark.key);
      const result = db.write("putRecordIfUnmarked", () => {
        const now = Date.now();
        const marked = q
          .query<{ one: number }, [string, number]>(
            "SELECT 1 AS one FROM kv WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)",
          )
          .get(markKey, now);
        if (marked) return "marked" as const;
        const version = casRecord(keys.records(kind), id, json, expectedVersion);
        if (version === null) return null;
        q.query("INSERT OR REPLACE INTO kv VALUES (?, ?, ?)").run(
          markKey,
          mark.value,
          now + Math.max(1, Math.ceil(mark.ttlMs)),
        );
        withEvents(list);
        return version;
      });
      if (typeof result === "number" && list?.length) events.notify();
      return result;
    },

    async deleteRecord(kind, id) {
      return db.write(
        "deleteRecord",
        () =>
          q.query("DELETE FROM records WHERE kind = ? AND id = ?").run(keys.records(kind), id).changes > 0,
      );
    },

    async listRecords<T>(kind: RecordKind): Promise<Versioned<T>[]> {
      const rows = db.read("listRecords", () =>
        q
          .query<{ version: number; json: string }, [string]>(
            "SELECT version, json FROM records WHERE kind = ?",
          )
          .all(keys.records(kind)),
      );
      return rows.map((r) => ({ version: r.version, value: JSON.parse(r.json) as T }));
    },

    cacheGet: async (key) => kvGet("cacheGet", keys.cache(key)),
    cacheSet: async (key, value, ttlMs) => {
      kvSet("cacheSet", keys.cache(key), value, ttlMs);
    },
    markSeen: async (key, ttlMs) => kvSet("markSeen", keys.seen(key), "1", ttlMs, true),
    unmarkSeen: async (key) => {
      del("unmarkSeen", keys.seen(key));
    },
    kvGet: async (key) => kvGet("kvGet", keys.kv(key)),
    kvSet: async (key, value, opts = {}) => kvSet("kvSet", keys.kv(key), value, opts.ttlMs, opts.ifAbsent),
    kvDelete: async (key) => {
      del("kvDelete", keys.kv(key));
    },

    async hashGetAll(key) {
      const rows = db.read("hashGetAll", () =>
        q
          .query<{ field: string; value: string }, [string]>("SELECT field, value FROM hashes WHERE key = ?")
          .all(keys.hash(key)),
      );
      return Object.fromEntries(rows.map((r) => [r.field, r.value]));
    },

    async hashSet(key, values) {
      db.write("hashSet", () => {
        const ins = q.query("INSERT OR REPLACE INTO hashes VALUES (?, ?, ?)");
        for (const [f, v] of Object.entries(values)) ins.run(keys.hash(key), f, v);
      });
    },

    async budgetReserve(name, req) {
      return db.write("budgetReserve", () => {
        const k = keys.budget(name);
        const now = Date.now();
        q.query("DELETE FROM budget WHERE name = ? AND at <= ?").run(k, now - req.windowMs);
        const live = q
          .query<{ id: string; at: number; amount: number }, [string]>(
            "SELECT id, at, amount FROM budget WHERE name = ? ORDER BY at, id",
          )
          .all(k);
        const used = live.reduce((sum, r) => sum + r.amount, 0);
        if (live.some((r) => r.id === req.reservationId)) return { granted: true, used, retryAfterMs: 0 };
        if (used + req.amount <= req.limit) {
          q.query("INSERT INTO budget VALUES (?, ?, ?, ?)").run(k, req.reservationId, now, req.amount);
          return { granted: true, used: used + req.amount, retryAfterMs: 0 };
        }
        // An amount above the limit can never fit: wait a whole window (the caller should split it).
        if (req.amount > req.limit) return { granted: false, used, retryAfterMs: req.windowMs };
        let need = used + req.amount - req.limit;
        for (const r of live) {
          need -= r.amount;
          if (need <= 0)
            return { granted: false, used, retryAfterMs: Math.max(1, r.at + req.windowMs - now) };
        }
        return { granted: false, used, retryAfterMs: req.windowMs };
      });
    },

    async budgetSettle(name, reservationId, actual) {
      db.write("budgetSettle", () =>
        q
          .query("UPDATE budget SET amount = ? WHERE name = ? AND id = ?")
          .run(actual, keys.budget(name), reservationId),
      );
    },

    async budgetUsed(name, windowMs) {
      return db.read("budgetUsed", () => {
        const row = q
          .query<{ used: number | null }, [string, number]>(
            "SELECT sum(amount) AS used FROM budget WHERE name = ? AND at > ?",
          )
          .get(keys.budget(name), Date.now() - windowMs);
        return row?.used ?? 0;
      });
    },
  };
}
