import { type Db, type Id, MAX_SEQ } from "./db.ts";

const less = (a: Id, b: Id): boolean => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);

/**
 * StreamsPort.trimAcked on the embedded broker, in one write transaction (as the Redis script is
 * one step): the bound is computed and applied with no read, claim or new group in between.
 * Per group the bound is its oldest pending entry, or, with nothing pending, the id just after its
 * last delivered one; the smallest over the groups wins, and the `keep` newest entries lower it.
 */
export function trimAcked(db: Db, stream: string, keep: number): number {
  const q = db.sql;
  return db.write("trimAcked", () => {
    const groups = q
      .query<{ name: string; last_ms: number; last_seq: number }, [string]>(
        "SELECT name, last_ms, last_seq FROM groups WHERE stream = ?",
      )
      .all(stream);
    // Exclusive: every entry below it is acknowledged (or was never wanted) in every group.
    let bound: Id | null = null;
    const oldestPending = q.query<{ ms: number; seq: number }, [string, string]>(
      "SELECT ms, seq FROM pending WHERE stream = ? AND grp = ? ORDER BY ms, seq LIMIT 1",
    );
    for (const g of groups) {
      const p = oldestPending.get(stream, g.name);
      const b: Id = p
        ? [p.ms, p.seq]
        : g.last_seq >= MAX_SEQ
          ? [g.last_ms + 1, 0]
          : [g.last_ms, g.last_seq + 1];
      if (!bound || less(b, bound)) bound = b;
    }
    if (!bound) return 0;
    if (keep > 0) {
      const k = q
        .query<{ ms: number; seq: number }, [string, number]>(
          "SELECT ms, seq FROM entries WHERE stream = ? ORDER BY ms DESC, seq DESC LIMIT 1 OFFSET ?",
        )
        .get(stream, keep - 1);
      if (!k) return 0;
      if (less([k.ms, k.seq], bound)) bound = [k.ms, k.seq];
    }
    const n = q
      .query("DELETE FROM entries WHERE stream = ? AND (ms, seq) < (?, ?)")
      .run(stream, bound[0], bound[1]).changes;
    if (n > 0) q.query("UPDATE streams SET length = length - ? WHERE name = ?").run(n, stream);
    return n;
  });
}

/**
 * StreamsPort.removeConsumers on the embedded broker, in one write transaction (as the Redis
 * script): the listed consumers and, with `idleMs`, those not seen for longer, when they hold
 * nothing pending.
 */
export function removeConsumers(
  db: Db,
  stream: string,
  group: string,
  names: string[],
  idleMs: number | undefined,
): string[] {
  const q = db.sql;
  return db.write("removeConsumers", () => {
    const before = idleMs === undefined ? null : Date.now() - idleMs;
    const rows = q
      .query<{ name: string; seen_at: number }, [string, string, string, string]>(
        `SELECT c.name, c.seen_at FROM consumers c WHERE c.stream = ? AND c.grp = ?
         AND NOT EXISTS (SELECT 1 FROM pending p WHERE p.stream = ? AND p.grp = ? AND p.consumer = c.name)`,
      )
      .all(stream, group, stream, group);
    const named = new Set(names);
    const gone = rows
      .filter((r) => named.has(r.name) || (before !== null && r.seen_at < before))
      .map((r) => r.name);
    const del = q.query("DELETE FROM consumers WHERE stream = ? AND grp = ? AND name = ?");
    for (const name of gone) del.run(stream, group, name);
    return gone;
  });
}
