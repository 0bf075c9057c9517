import { McpError } from "../../core/errors.ts";
import { encode, type StreamFields } from "../../core/schemas/codec.ts";
import { deadLetterOf } from "../consumer-group.ts";
import { DEFAULT_CAPS, DEFAULT_TRIM_KEEP, type Keys } from "../keys.ts";
import type { ClaimResult, Delivery, GroupStats, StreamEntry, StreamStats, StreamsPort } from "../types.ts";
import { type Db, fmtId, type Id, MAX_SEQ, parseId } from "./db.ts";
import { removeConsumers, trimAcked } from "./trim.ts";
import type { Waiters } from "./waiters.ts";

const DEFAULT_COUNT = 100;
type Row = { ms: number; seq: number; fields: string };
type StreamRow = { last_ms: number; last_seq: number; entries_added: number; length: number };
type GroupRow = { last_ms: number; last_seq: number; entries_read: number | null };

const entryOf = (r: Row): StreamEntry => ({ id: fmtId(r.ms, r.seq), fields: JSON.parse(r.fields) });

/** A stream's row (its last id, counts), and creating it. */
function streamRows(q: Db["sql"]) {
  return {
    streamRow: (s: string) =>
      q
        .query<StreamRow, [string]>(
          "SELECT last_ms, last_seq, entries_added, length FROM streams WHERE name = ?",
        )
        .get(s),
    mkStream: (s: string) => q.query("INSERT OR IGNORE INTO streams VALUES (?, 0, 0, 0, 0)").run(s),
  };
}

/**
 * XADD inside the caller's transaction: ids are `<ms>-<seq>`, never going backwards. Shared with
 * the state half, which appends a record change's audit events in the change's own transaction.
 */
export function appendInTx(db: Db): (stream: string, entries: StreamFields[], maxLen?: number) => string[] {
  const q = db.sql;
  const { streamRow, mkStream } = streamRows(q);
  return (s: string, entries: StreamFields[], maxLen?: number): string[] => {
    mkStream(s);
    const st = streamRow(s)!;
    const now = Date.now();
    let ms = Math.max(now, st.last_ms);
    let seq = ms === st.last_ms ? st.last_seq : -1;
    const ins = q.query("INSERT INTO entries VALUES (?, ?, ?, ?)");
    const ids = entries.map((fields) => {
      seq++;
      if (seq > MAX_SEQ) [ms, seq] = [ms + 1, 0];
      ins.run(s, ms, seq, JSON.stringify(fields));
      return fmtId(ms, seq);
    });
    let length = st.length + entries.length;
    if (maxLen !== undefined && length > maxLen) {
      q.query(
        "DELETE FROM entries WHERE stream = ?1 AND (ms, seq) <= (SELECT ms, seq FROM entries WHERE stream = ?1 ORDER BY ms, seq LIMIT 1 OFFSET ?2)",
      ).run(s, length - maxLen - 1);
      length = maxLen;
    }
    q.query(
      "UPDATE streams SET last_ms = ?, last_seq = ?, entries_added = entries_added + ?, length = ? WHERE name = ?",
    ).run(ms, seq, entries.length, length, s);
    return ids;
  };
}

/** The Streams half of the embedded broker, with Redis 7 semantics (ids, PEL, lag, XAUTOCLAIM). */
export function embeddedStreams(db: Db, keys: Keys, waiters: Waiters): StreamsPort {
  const q = db.sql;
  const { streamRow, mkStream } = streamRows(q);
  const groupRow = (s: string, g: string): GroupRow => {
    const row = q
      .query<GroupRow, [string, string]>(
        "SELECT last_ms, last_seq, entries_read FROM groups WHERE stream = ? AND name = ?",
      )
      .get(s, g);
    if (!row)
      throw new McpError("NOT_FOUND", `NOGROUP no group ${g} on stream ${s}`, {
        details: { stream: s, group: g },
      });
    return row;
  };
  const consumerSeen = (s: string, g: string, c: string, now: number) =>
    q
      .query("INSERT INTO consumers VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET seen_at = excluded.seen_at")
      .run(s, g, c, now);
  const countAfter = (s: string, [ms, seq]: Id) =>
    q
      .query<{ n: number }, [string, number, number]>(
        "SELECT count(*) AS n FROM entries WHERE stream = ? AND (ms, seq) > (?, ?)",
      )
      .get(s, ms, seq)!.n;

  const appendTx = appendInTx(db);

  const readNew = (s: string, g: string, c: string, count: number): Delivery[] =>
    db.write("readGroup", () => {
      const grp = groupRow(s, g);
      const now = Date.now();
      consumerSeen(s, g, c, now);
      const rows = q
        .query<Row, [string, number, number, number]>(
          "SELECT ms, seq, fields FROM entries WHERE stream = ? AND (ms, seq) > (?, ?) ORDER BY ms, seq LIMIT ?",
        )
        .all(s, grp.last_ms, grp.last_seq, count);
      if (rows.length === 0) return [];
      const pend = q.query("INSERT OR REPLACE INTO pending VALUES (?, ?, ?, ?, ?, ?, 1)");
      for (const r of rows) pend.run(s, g, r.ms, r.seq, c, now);
      const last = rows[rows.length - 1]!;
      const added = streamRow(s)!.entries_added;
      q.query(
        "UPDATE groups SET last_ms = ?, last_seq = ?, entries_read = ? WHERE stream = ? AND name = ?",
      ).run(last.ms, last.seq, added - countAfter(s, [last.ms, last.seq]), s, g);
      return rows.map((r) => ({ ...entryOf(r), deliveries: 1 }));
    });

  /** XREADGROUP id 0: own pending entries, each delivery counted; deleted entries are acked. */
  const readOwn = (s: string, g: string, c: string, count: number): Delivery[] =>
    db.write("readGroup", () => {
      groupRow(s, g);
      const now = Date.now();
      consumerSeen(s, g, c, now);
      const rows = q
        .query<Row & { deliveries: number; gone: number }, [string, string, string, number]>(
          `SELECT p.ms, p.seq, coalesce(e.fields, '') AS fields, p.deliveries, e.ms IS NULL AS gone FROM pending p
           LEFT JOIN entries e ON e.stream = p.stream AND e.ms = p.ms AND e.seq = p.seq
           WHERE p.stream = ? AND p.grp = ? AND p.consumer = ? ORDER BY p.ms, p.seq LIMIT ?`,
        )
        .all(s, g, c, count);
      const out: Delivery[] = [];
      for (const r of rows) {
        const key = [s, g, r.ms, r.seq] as const;
        if (r.gone) {
          q.query("DELETE FROM pending WHERE stream = ? AND grp = ? AND ms = ? AND seq = ?").run(...key);
          continue;
        }
        q.query(
          "UPDATE pending SET deliveries = deliveries + 1, delivered_at = ? WHERE stream = ? AND grp = ? AND ms = ? AND seq = ?",
        ).run(now, ...key);
        out.push({ ...entryOf(r), deliveries: r.deliveries + 1 });
      }
      return out;
    });

  return {
    async append(stream, entries, opts) {
      if (entries.length === 0) return [];
      const ids = db.write("append", () => appendTx(stream, entries, opts?.maxLen));
      waiters.notify(stream);
      return ids;
    },

    async ensureGroup(stream, group, startId = "$") {
      db.write("ensureGroup", () => {
        mkStream(stream);
        const st = streamRow(stream)!;
        const [ms, seq] = startId === "$" ? [st.last_ms, st.last_seq] : [0, 0];
        // entries_read starts unknown (null), as in Redis 7; it is set by the first read.
        q.query("INSERT OR IGNORE INTO groups VALUES (?, ?, ?, ?, NULL)").run(stream, group, ms, seq);
      });
    },

    async readGroup(stream, group, consumer, opts = {}) {
      const count = opts.count ?? DEFAULT_COUNT;
      if (opts.from === "0") return readOwn(stream, group, consumer, count);
      return await waiters.block(stream, opts.blockMs ?? 0, () => readNew(stream, group, consumer, count));
    },

    async ack(stream, group, ids) {
      if (ids.length === 0) return 0;
      return db.write("ack", () => {
        const del = q.query("DELETE FROM pending WHERE stream = ? AND grp = ? AND ms = ? AND seq = ?");
        let n = 0;
        for (const id of ids) n += del.run(stream, group, ...parseId(id)).changes;
        return n;
      });
    },

    async claimIdle(stream, group, consumer, minIdleMs, opts = {}): Promise<ClaimResult> {
      let count = opts.count ?? DEFAULT_COUNT;
      const [sms, sseq] = parseId(opts.start ?? "0-0");
      return db.write("claimIdle", () => {
        groupRow(stream, group);
        const now = Date.now();
        consumerSeen(stream, group, consumer, now);
        // Like XAUTOCLAIM: look at no more than count*10 PEL entries per call, then hand back a cursor.
        const rows = q
          .query<
            Row & { delivered_at: number; deliveries: number; gone: number },
            [string, string, number, number, number]
          >(
            `SELECT p.ms, p.seq, coalesce(e.fields, '') AS fields, p.delivered_at, p.deliveries, e.ms IS NULL AS gone
             FROM pending p LEFT JOIN entries e ON e.stream = p.stream AND e.ms = p.ms AND e.seq = p.seq
             WHERE p.stream = ? AND p.grp = ? AND (p.ms, p.seq) >= (?, ?) ORDER BY p.ms, p.seq LIMIT ?`,
          )
          .all(stream, group, sms, sseq, count * 10 + 1);
        const res: ClaimResult = { next: "0-0", entries: [], deleted: [] };
        let i = 0;
        for (; i < rows.length && i < count * 10 && count > 0; i++) {
          const r = rows[i]!;
          const key = [stream, group, r.ms, r.seq] as const;
          if (r.gone) {
            q.query("DELETE FROM pending WHERE stream = ? AND grp = ? AND ms = ? AND seq = ?").run(...key);
            res.deleted.push(fmtId(r.ms, r.seq));
            count--;
          } else if (now - r.delivered_at >= minIdleMs) {
            q.query(
              "UPDATE pending SET consumer = ?, delivered_at = ?, deliveries = deliveries + 1 WHERE stream = ? AND grp = ? AND ms = ? AND seq = ?",
            ).run(consumer, now, ...key);
            res.entries.push({ ...entryOf(r), deliveries: r.deliveries + 1 });
            count--;
          }
        }
        const next = rows[i];
        if (next) res.next = fmtId(next.ms, next.seq);
        return res;
      });
    },

    async removeConsumers(stream, group, opts) {
      return removeConsumers(db, stream, group, opts.names ?? [], opts.idleMs);
    },

    async touch(stream, group, consumer, ids) {
      if (ids.length === 0) return 0;
      return db.write("touch", () => {
        groupRow(stream, group);
        const now = Date.now();
        consumerSeen(stream, group, consumer, now);
        const row = q.query<{ gone: number }, [string, string, number, number, string]>(
          `SELECT e.ms IS NULL AS gone FROM pending p
           LEFT JOIN entries e ON e.stream = p.stream AND e.ms = p.ms AND e.seq = p.seq
           WHERE p.stream = ? AND p.grp = ? AND p.ms = ? AND p.seq = ? AND p.consumer = ?`,
        );
        let n = 0;
        for (const id of ids) {
          const key = [stream, group, ...parseId(id)] as const;
          const r = row.get(...key, consumer);
          if (!r) continue;
          // As XCLAIM: a trimmed entry can never be processed, so it leaves the PEL.
          if (r.gone)
            q.query("DELETE FROM pending WHERE stream = ? AND grp = ? AND ms = ? AND seq = ?").run(...key);
          else {
            q.query(
              "UPDATE pending SET delivered_at = ? WHERE stream = ? AND grp = ? AND ms = ? AND seq = ?",
            ).run(now, ...key);
            n++;
          }
        }
        return n;
      });
    },

    async deadLetter(stream, group, entry, reason) {
      const letter = deadLetterOf(stream, group, entry, reason);
      // One transaction: the entry is in the DLQ and acked, or neither.
      const id = db.write("deadLetter", () => {
        const [dlqId] = appendTx(keys.dlq, [encode("dead_letter", letter)], DEFAULT_CAPS.dlq);
        q.query("DELETE FROM pending WHERE stream = ? AND grp = ? AND ms = ? AND seq = ?").run(
          stream,
          group,
          ...parseId(entry.id),
        );
        return dlqId!;
      });
      waiters.notify(keys.dlq);
      return id;
    },

    async range(stream, start = "-", end = "+", count) {
      const [ams, aseq] = parseId(start, 0);
      const [bms, bseq] = parseId(end, MAX_SEQ);
      return db.read("range", () =>
        q
          .query<Row, [string, number, number, number, number, number]>(
            "SELECT ms, seq, fields FROM entries WHERE stream = ? AND (ms, seq) BETWEEN (?, ?) AND (?, ?) ORDER BY ms, seq LIMIT ?",
          )
          .all(stream, ams, aseq, bms, bseq, count ?? -1)
          .map(entryOf),
      );
    },

    async read(stream, afterId, opts = {}) {
      let after: Id;
      if (afterId === "$") {
        const st = db.read("read", () => streamRow(stream));
        after = st ? [st.last_ms, st.last_seq] : [0, 0];
      } else after = parseId(afterId);
      const once = () =>
        db.read("read", () =>
          q
            .query<Row, [string, number, number, number]>(
              "SELECT ms, seq, fields FROM entries WHERE stream = ? AND (ms, seq) > (?, ?) ORDER BY ms, seq LIMIT ?",
            )
            .all(stream, after[0], after[1], opts.count ?? DEFAULT_COUNT)
            .map(entryOf),
        );
      return await waiters.block(stream, opts.blockMs ?? 0, once);
    },

    async trimAcked(stream, opts = {}) {
      return trimAcked(db, stream, Math.max(0, Math.floor(opts.keep ?? DEFAULT_TRIM_KEEP)));
    },

    async clear(stream) {
      return db.write("clear", () => {
        const n = q.query("DELETE FROM entries WHERE stream = ?").run(stream).changes;
        q.query("UPDATE streams SET length = 0 WHERE name = ?").run(stream);
        return n;
      });
    },

    async stats(stream): Promise<StreamStats> {
      return db.read("stats", () => {
        const st = streamRow(stream);
        if (!st) return { name: stream, length: 0, first_id: null, last_id: null, groups: [] };
        const edge = (dir: "ASC" | "DESC") =>
          q
            .query<{ ms: number; seq: number }, [string]>(
              `SELECT ms, seq FROM entries WHERE stream = ? ORDER BY ms ${dir}, seq ${dir} LIMIT 1`,
            )
            .get(stream);
        const first = edge("ASC");
        const last = edge("DESC");
        const now = Date.now();
        const groups = q
          .query<GroupRow & { name: string }, [string]>(
            "SELECT name, last_ms, last_seq, entries_read FROM groups WHERE stream = ? ORDER BY name",
          )
          .all(stream)
          .map((g): GroupStats => {
            const consumers = q
              .query<{ name: string; pending: number; seen_at: number }, [string, string, string, string]>(
                `SELECT c.name, (SELECT count(*) FROM pending p WHERE p.stream = ? AND p.grp = ? AND p.consumer = c.name) AS pending,
                 c.seen_at FROM consumers c WHERE c.stream = ? AND c.grp = ? ORDER BY c.name`,
              )
              .all(stream, g.name, stream, g.name)
              .map((c) => ({ name: c.name, pending: c.pending, idle_ms: Math.max(0, now - c.seen_at) }));
            const oldest = q
              .query<{ n: number; at: number | null }, [string, string]>(
                `SELECT count(*) AS n, (SELECT delivered_at FROM pending WHERE stream = ?1 AND grp = ?2 ORDER BY ms, seq LIMIT 1) AS at
                 FROM pending WHERE stream = ?1 AND grp = ?2`,
              )
              .get(stream, g.name)!;
            return {
              name: g.name,
              consumers,
              pending: oldest.n,
              last_delivered_id: fmtId(g.last_ms, g.last_seq),
              entries_read: g.entries_read,
              // Only trimming ever deletes entries here (no XDEL), so the count is exact.
              lag: countAfter(stream, [g.last_ms, g.last_seq]),
              oldest_pending_ms: oldest.at === null ? 0 : Math.max(0, now - oldest.at),
            };
          });
        return {
          name: stream,
          length: st.length,
          first_id: first ? fmtId(first.ms, first.seq) : null,
          last_id: last ? fmtId(last.ms, last.seq) : null,
          groups,
        };
      });
    },
  };
}
