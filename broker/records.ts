import { McpError } from "../core/errors.ts";
import { newId } from "../core/ids.ts";
import { redactDeep } from "../core/redact/index.ts";
import { encode, type StreamFields } from "../core/schemas/codec.ts";
import type { Channel, McpEvent } from "../core/schemas/event.ts";
import type { Fix, FixMessage } from "../core/schemas/fix.ts";
import { DEFAULT_CAPS, type RecordKind } from "./keys.ts";
import type { Broker, StatePort, Versioned } from "./types.ts";

export interface UpdateOptions<T> {
  maxAttempts?: number;
  /**
   * The audit events of this change, computed from the value about to be written (after `change`
   * ran for the last time): appended to `mcp:events` in the same atomic step as the record, so
   * the trail never misses a change that happened nor shows one that did not.
   */
  events?: (next: T) => EventInput[];
}

function eventsOf<T>(opts: UpdateOptions<T>, next: T): StreamFields[] | undefined {
  const list = opts.events?.(next);
  return list?.length ? list.map(encodeEvent) : undefined;
}

/** An audit event as `putRecord` takes it, to be written in the same step as a record. */
export function encodeEvent(input: EventInput): StreamFields {
  return encode("event", eventOf(input));
}

/**
 * Read-modify-write of one record with optimistic concurrency: `change` gets the current value
 * (null when absent) and returns the new value, or `undefined` to leave the record as it is.
 * On a version conflict the read and `change` run again, so `change` must be a pure function of
 * its input. Returns the stored record, or null when nothing was written.
 */
export async function updateRecord<T>(
  state: StatePort,
  kind: RecordKind,
  id: string,
  change: (current: T | null) => T | undefined,
  opts: UpdateOptions<T> = {},
): Promise<Versioned<T> | null> {
  const maxAttempts = opts.maxAttempts ?? 20;
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    const current = await state.getRecord<T>(kind, id);
    const next = change(current?.value ?? null);
    if (next === undefined) return null;
    const version = await state.putRecord(kind, id, next, current?.version ?? 0, eventsOf(opts, next));
    if (version !== null) return { version, value: next };
    await Bun.sleep(Math.min(50, 2 ** attempt) * Math.random());
  }
  throw new McpError("BROKER_CONFLICT", `could not update ${kind} ${id}: too many concurrent writers`, {
    retryable: true,
  });
}

/**
 * `updateRecord` for counting something exactly once: the write also sets the kv key `mark.key`,
 * atomically, unless it already exists. `change` learns whether the mark was already there (the
 * thing was counted before, e.g. by a consumer that died before it could acknowledge) and then
 * returns the record without counting it again.
 */
export async function updateRecordOnce<T>(
  state: StatePort,
  kind: RecordKind,
  id: string,
  mark: { key: string; value: string; ttlMs: number },
  change: (current: T | null, alreadyMarked: boolean) => T | undefined,
  opts: UpdateOptions<T> = {},
): Promise<{ stored: Versioned<T> | null; alreadyMarked: boolean }> {
  const maxAttempts = opts.maxAttempts ?? 20;
  let alreadyMarked = (await state.kvGet(mark.key)) !== null;
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    const current = await state.getRecord<T>(kind, id);
    const next = change(current?.value ?? null, alreadyMarked);
    if (next === undefined) return { stored: null, alreadyMarked };
    const expected = current?.version ?? 0;
    const events = eventsOf(opts, next);
    const version = alreadyMarked
      ? await state.putRecord(kind, id, next, expected, events)
      : await state.putRecordIfUnmarked(kind, id, next, expected, mark, events);
    if (version === "marked") {
      alreadyMarked = true;
      continue;
    }
    if (version !== null) return { stored: { version, value: next }, alreadyMarked };
    await Bun.sleep(Math.min(50, 2 ** attempt) * Math.random());
  }
  throw new McpError("BROKER_CONFLICT", `could not update ${kind} ${id}: too many concurrent writers`, {
    retryable: true,
  });
}

export interface EventInput {
  type: string;
  channel: Channel;
  subject: string;
  data?: Record<string, unknown>;
}

/** An audit/notification event, its data redacted (step output, reasons, fields). */
function eventOf(input: EventInput): McpEvent {
  return {
    v: 1,
    event_id: newId("ev_"),
    type: input.type,
    channel: input.channel,
    at: new Date().toISOString(),
    subject: input.subject,
    data: redactDeep(input.data ?? {}).value,
  };
}

/**
 * Append one audit/notification event to `mcp:events` (capped). Returns the event. An event that
 * records a state change goes with the change instead (`updateRecord`'s `events`).
 */
export async function publishEvent(broker: Broker, input: EventInput): Promise<McpEvent> {
  const event = eventOf(input);
  await broker.append(broker.keys.events, [encode("event", event)], { maxLen: DEFAULT_CAPS.events });
  return event;
}

/** Put a fix on `mcp:fixes` for the executors. The fix record must already say `queued`. */
export async function enqueueFix(broker: Broker, fix: Fix): Promise<string> {
  const message: FixMessage = {
    v: 1,
    fix_id: fix.fix_id,
    incident_id: fix.incident_id,
    client_id: fix.client_id,
    risk: fix.risk,
    enqueued_at: new Date().toISOString(),
    approved_by: fix.approval?.by,
  };
  const [id] = await broker.append(broker.keys.fixes, [encode("fix", message)]);
  return id!;
}

/**
 * Make sure a queued fix is on `mcp:fixes`: append it unless the record says it was enqueued, then
 * record that it was. A crash or a failed append between "the record says queued" and "the entry
 * is on the stream" is repaired by the next call (a redelivered analyzer entry, the sweeper).
 * At least once: a second entry for one fix is harmless, as the executor fences runs by record.
 * `force` appends even when marked (the sweeper, when no entry for the fix is left on the stream).
 * Returns the stored fix when it was enqueued now, else null.
 */
export async function ensureEnqueued(broker: Broker, fixId: string, force = false): Promise<Fix | null> {
  const cur = await broker.getRecord<Fix>("fix", fixId);
  if (!cur || cur.value.status !== "queued" || (cur.value.enqueued_at && !force)) return null;
  await enqueueFix(broker, cur.value);
  const at = new Date().toISOString();
  const stored = await updateRecord<Fix>(broker, "fix", fixId, (f) =>
    f && f.status === "queued" ? { ...f, enqueued_at: at } : undefined,
  );
  return stored?.value ?? cur.value;
}

/** The pause flag shared by every process (`POST /processing/pause`). */
export const PAUSE_KEY = "processing:paused";
export async function isPaused(state: StatePort): Promise<boolean> {
  return (await state.kvGet(PAUSE_KEY)) === "1";
}
export async function setPaused(state: StatePort, paused: boolean): Promise<void> {
  if (paused) await state.kvSet(PAUSE_KEY, "1");
  else await state.kvDelete(PAUSE_KEY);
}
