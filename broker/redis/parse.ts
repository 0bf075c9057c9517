/**
 * Redis replies to XREAD(GROUP), XINFO and the claim scripts are raw nested arrays; they are
 * turned into typed objects here and nowhere else.
 */
import type { ConsumerStats, Delivery, StreamEntry } from "../types.ts";

type Raw = unknown;

/** [f1, v1, f2, v2…] → {f1: v1, …} */
export function fieldsOf(raw: Raw): Record<string, string> {
  const out: Record<string, string> = {};
  if (!Array.isArray(raw)) return out;
  for (let i = 0; i + 1 < raw.length; i += 2) out[String(raw[i])] = String(raw[i + 1]);
  return out;
}

/** [[id, [f, v…]], …] → entries; entries whose fields are null (deleted) are skipped. */
export function entriesOf(raw: Raw): StreamEntry[] {
  if (!Array.isArray(raw)) return [];
  const out: StreamEntry[] = [];
  for (const e of raw) {
    if (Array.isArray(e) && Array.isArray(e[1])) out.push({ id: String(e[0]), fields: fieldsOf(e[1]) });
  }
  return out;
}

/**
 * XREAD / XREADGROUP reply for one stream, or null. Over RESP3 (ioredis 6 default) the reply is a
 * map flattened to [stream, entries]; over RESP2 it is [[stream, entries]].
 */
export function readReply(raw: Raw): StreamEntry[] {
  if (!Array.isArray(raw) || raw.length === 0) return [];
  return Array.isArray(raw[0]) ? entriesOf(raw[0][1]) : entriesOf(raw[1]);
}

/** [[id, fields, deliveries], …] from the READ_OWN and CLAIM scripts. */
export function deliveriesOf(raw: Raw): Delivery[] {
  if (!Array.isArray(raw)) return [];
  return raw.map((e) => ({ id: String(e[0]), fields: fieldsOf(e[1]), deliveries: Number(e[2]) }));
}

/** The CLAIM script: [next, deliveries, deleted ids]. */
export function claimReply(raw: Raw): { next: string; entries: Delivery[]; deleted: string[] } {
  const r = Array.isArray(raw) ? raw : [];
  return {
    next: String(r[0] ?? "0-0"),
    entries: deliveriesOf(r[1]),
    deleted: Array.isArray(r[2]) ? r[2].map(String) : [],
  };
}

/** XINFO replies are flat [key, value, key, value…] maps. */
export function mapOf(raw: Raw): Map<string, Raw> {
  const m = new Map<string, Raw>();
  if (!Array.isArray(raw)) return m;
  for (let i = 0; i + 1 < raw.length; i += 2) m.set(String(raw[i]), raw[i + 1]);
  return m;
}

function num(v: Raw): number | null {
  if (v === null || v === undefined) return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

/** XINFO STREAM: length, first and last entry ids. */
export function streamInfo(raw: Raw): { length: number; first_id: string | null; last_id: string | null } {
  const m = mapOf(raw);
  const length = num(m.get("length")) ?? 0;
  const first = m.get("first-entry");
  const last = m.get("last-entry");
  return {
    length,
    first_id: Array.isArray(first) ? String(first[0]) : null,
    last_id: Array.isArray(last) ? String(last[0]) : null,
  };
}

export interface RawGroup {
  name: string;
  pending: number;
  last_delivered_id: string;
  entries_read: number | null;
  lag: number | null;
}

/** XINFO GROUPS (Redis 7: entries-read and lag may be nil). */
export function groupsInfo(raw: Raw): RawGroup[] {
  if (!Array.isArray(raw)) return [];
  return raw.map((g) => {
    const m = mapOf(g);
    return {
      name: String(m.get("name")),
      pending: num(m.get("pending")) ?? 0,
      last_delivered_id: String(m.get("last-delivered-id") ?? "0-0"),
      entries_read: num(m.get("entries-read")),
      lag: num(m.get("lag")),
    };
  });
}

/** XINFO CONSUMERS */
export function consumersInfo(raw: Raw): ConsumerStats[] {
  if (!Array.isArray(raw)) return [];
  return raw.map((c) => {
    const m = mapOf(c);
    return {
      name: String(m.get("name")),
      pending: num(m.get("pending")) ?? 0,
      idle_ms: num(m.get("idle")) ?? 0,
    };
  });
}

/** XPENDING key group - + 1 → idle ms of the lowest pending id, 0 when none. */
export function oldestIdle(raw: Raw): number {
  if (!Array.isArray(raw) || !Array.isArray(raw[0])) return 0;
  return num(raw[0][2]) ?? 0;
}
