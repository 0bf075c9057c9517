import type { StreamFields } from "../core/schemas/codec.ts";
import type { Keys, RecordKind } from "./keys.ts";

/**
 * The broker port: the only way components reach Redis or the embedded SQLite broker.
 * Two implementations (broker/redis, broker/embedded) pass one contract suite (broker/contract.ts).
 * Every method rejects with an McpError (`BROKER_UNAVAILABLE`, retryable) when the broker cannot be
 * reached: an append is never dropped silently.
 */
export interface Broker extends StreamsPort, StatePort {
  readonly kind: "redis" | "embedded";
  readonly keys: Keys;
  /** Health for /health: reachable or not, and the connection state. */
  health(): Promise<BrokerHealth>;
  /**
   * Whether an acknowledged append survives a restart of the broker (Redis only; rejects with
   * BROKER_UNAVAILABLE when it cannot be asked). See broker/redis/durability.ts.
   */
  durability?(): Promise<BrokerDurability>;
  /** Close every connection; pending blocking reads resolve with no entries. */
  close(): Promise<void>;
}

export interface BrokerDurability {
  /** appendonly yes. */
  aof: boolean;
  fsync?: string;
  version?: string;
  /** How appends are made durable: WAITAOF after each batch, Redis's own appendfsync always, or not. */
  mode: "waitaof" | "fsync-always" | "none";
  /** broker.durable: appends must be durable, and the broker refuses them otherwise. */
  required: boolean;
  /** Why appends are not durable (mode "none"). */
  problem?: string;
  /** What to tell an operator even when durability is not required (no AOF at all). */
  warning?: string;
}

export interface BrokerHealth {
  ok: boolean;
  kind: "redis" | "embedded";
  state: string;
  latency_ms?: number;
  error?: string;
}

export interface StreamEntry {
  /** Stream id, `<ms>-<seq>` as Redis prints it. */
  id: string;
  fields: StreamFields;
}

/** An entry read through a consumer group, with how many times it has been delivered so far. */
export interface Delivery extends StreamEntry {
  deliveries: number;
}

export interface ReadGroupOptions {
  count?: number;
  /** Block up to this long for new entries; 0 or absent = do not block. */
  blockMs?: number;
  /**
   * `">"` (default): new entries never delivered to the group. `"0"`: this consumer's own pending
   * entries (XREADGROUP with id 0), used at start-up to finish what a previous run left.
   */
  from?: ">" | "0";
}

export interface ClaimResult {
  /** Cursor for the next call; "0-0" when the scan is complete. */
  next: string;
  entries: Delivery[];
  /** Ids that were pending but whose entry no longer exists (trimmed); they are removed from the PEL. */
  deleted: string[];
}

export interface StreamStats {
  name: string;
  length: number;
  first_id: string | null;
  last_id: string | null;
  groups: GroupStats[];
}

export interface GroupStats {
  name: string;
  consumers: ConsumerStats[];
  pending: number;
  last_delivered_id: string;
  entries_read: number | null;
  /** Entries not yet delivered to the group (XINFO GROUPS lag); null when Redis cannot tell. */
  lag: number | null;
  /** Age in ms of the oldest pending entry, 0 when nothing is pending. */
  oldest_pending_ms: number;
}

export interface ConsumerStats {
  name: string;
  pending: number;
  idle_ms: number;
}

export interface StreamsPort {
  /**
   * Append entries in one round trip (pipelined / one transaction); returns their ids in order.
   * `maxLen` caps the stream approximately (`MAXLEN ~`); omit it for work queues.
   */
  append(stream: string, entries: StreamFields[], opts?: { maxLen?: number }): Promise<string[]>;
  /** Create the group if missing (MKSTREAM), starting at `startId` ("0" = whole stream, "$" = new only). */
  ensureGroup(stream: string, group: string, startId?: "0" | "$"): Promise<void>;
  readGroup(stream: string, group: string, consumer: string, opts?: ReadGroupOptions): Promise<Delivery[]>;
  ack(stream: string, group: string, ids: string[]): Promise<number>;
  /** XAUTOCLAIM: take over entries idle longer than `minIdleMs`, incrementing their delivery count. */
  claimIdle(
    stream: string,
    group: string,
    consumer: string,
    minIdleMs: number,
    opts?: { count?: number; start?: string },
  ): Promise<ClaimResult>;
  /**
   * Reset the idle time of entries that `consumer` holds, without counting a delivery: a live
   * consumer still working on them (waiting for a batch or for budget) keeps them out of other
   * consumers' `claimIdle`. Ids pending for another consumer, acknowledged or unknown are left
   * alone; ids whose entry was trimmed leave the PEL, as with XCLAIM. Returns how many were reset.
   */
  touch(stream: string, group: string, consumer: string, ids: string[]): Promise<number>;
  /**
   * XGROUP DELCONSUMER of consumers that left, so XINFO CONSUMERS shows the live ones: those in
   * `names` (a clean stop) and, with `idleMs`, any idle longer than that. Only a consumer with
   * nothing pending is removed (DELCONSUMER would drop its pending entries), checked in the same
   * atomic step. Returns the names removed; a missing stream or group removes nothing.
   */
  removeConsumers(
    stream: string,
    group: string,
    opts: { names?: string[]; idleMs?: number },
  ): Promise<string[]>;
  /**
   * Move an entry to the dead-letter stream with the reason, and acknowledge it in the group,
   * atomically: the entry is in the DLQ or still pending, never neither.
   */
  deadLetter(stream: string, group: string, entry: Delivery, reason: string): Promise<string>;
  /** XRANGE: entries between ids inclusive ("-" and "+" for the ends). */
  range(stream: string, start?: string, end?: string, count?: number): Promise<StreamEntry[]>;
  /** XREAD without a group: entries after `afterId`, blocking up to `blockMs` (tailing mcp:events). */
  read(stream: string, afterId: string, opts?: { count?: number; blockMs?: number }): Promise<StreamEntry[]>;
  /**
   * Delete the entries every group of the stream is done with: those older than the oldest entry
   * still pending, or not yet delivered, in ANY group (so the slowest group decides). Work queues
   * are appended without MAXLEN, so without this acknowledged entries pile up until Redis runs out
   * of memory. The newest `keep` entries (default DEFAULT_TRIM_KEEP) always stay, so operators can
   * still XRANGE recent history. A stream without groups is never trimmed: nothing says what was
   * done with it. Returns how many entries were deleted.
   */
  trimAcked(stream: string, opts?: { keep?: number }): Promise<number>;
  /** Delete every entry of a stream, keeping its groups; returns how many were removed. */
  clear(stream: string): Promise<number>;
  /** The figures `redis-cli XINFO STREAM/GROUPS/CONSUMERS` shows. */
  stats(stream: string): Promise<StreamStats>;
}

/** A stored record with its optimistic-concurrency version (1 on create, +1 per write). */
export interface Versioned<T> {
  version: number;
  value: T;
}

export interface StatePort {
  getRecord<T>(kind: RecordKind, id: string): Promise<Versioned<T> | null>;
  /**
   * Compare-and-set: writes only when the stored version equals `expectedVersion`
   * (0 = the record must not exist yet). Returns the new version, or null on conflict.
   */
  /**
   * Compare-and-set of one record. `events` (encoded `mcp:events` entries) are appended in the same
   * atomic step, so a state change and its audit event are written together or not at all.
   */
  putRecord<T>(
    kind: RecordKind,
    id: string,
    value: T,
    expectedVersion: number,
    events?: StreamFields[],
  ): Promise<number | null>;
  /**
   * `putRecord` that also sets the kv key `mark.key` (with a TTL), atomically, and only when that
   * key is absent: "marked" when it already exists (nothing written). Counting an event into a
   * record and remembering that it was counted is one step, so a crash can neither lose the
   * count nor count the event twice.
   */
  putRecordIfUnmarked<T>(
    kind: RecordKind,
    id: string,
    value: T,
    expectedVersion: number,
    mark: { key: string; value: string; ttlMs: number },
    events?: StreamFields[],
  ): Promise<number | null | "marked">;
  deleteRecord(kind: RecordKind, id: string): Promise<boolean>;
  /** Every record of a kind (small sets: incidents, fixes, clients), unordered. */
  listRecords<T>(kind: RecordKind): Promise<Versioned<T>[]>;

  cacheGet(key: string): Promise<string | null>;
  cacheSet(key: string, value: string, ttlMs: number): Promise<void>;

  /** Remember `key` for `ttlMs`; true when it was not seen before (SET NX PX). */
  markSeen(key: string, ttlMs: number): Promise<boolean>;
  /** Forget a seen key (when the work it guarded failed and must be retried). */
  unmarkSeen(key: string): Promise<void>;

  /** Small shared values: the pause flag, template snapshots, leader leases. */
  kvGet(key: string): Promise<string | null>;
  kvSet(key: string, value: string, opts?: { ttlMs?: number; ifAbsent?: boolean }): Promise<boolean>;
  kvDelete(key: string): Promise<void>;
  /** Hash operations, for sets of small values under one key (templates by id…). */
  hashGetAll(key: string): Promise<Record<string, string>>;
  hashSet(key: string, values: Record<string, string>): Promise<void>;

  /**
   * Shared token budget over a sliding window, atomic across every process (one Lua script on
   * Redis). Reserves `amount` under `reservationId` when the sum of reservations inside the last
   * `windowMs` plus `amount` stays within `limit`; otherwise says how long to wait.
   */
  budgetReserve(name: string, req: BudgetRequest): Promise<BudgetResult>;
  /** Replace a reservation's amount with what was really used (reconcile with the API's usage). */
  budgetSettle(name: string, reservationId: string, actual: number): Promise<void>;
  /** Sum reserved inside the window now. */
  budgetUsed(name: string, windowMs: number): Promise<number>;
}

export interface BudgetRequest {
  reservationId: string;
  amount: number;
  limit: number;
  windowMs: number;
}

export interface BudgetResult {
  granted: boolean;
  /** Tokens in use inside the window after this call. */
  used: number;
  /** When not granted: how long until enough of the window has expired. */
  retryAfterMs: number;
}
