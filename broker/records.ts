import { McpError } from "../core/errors.ts";
import { newId } from "../core/ids.ts";
import { redactDeep } from "../core/redact/index.ts";
import { encode } from "../core/schemas/codec.ts";
import type { Channel, McpEvent } from "../core/schemas/event.ts";
import type { Fix, FixMessage } from "../core/schemas/fix.ts";
import { DEFAULT_CAPS, type RecordKind } from "./keys.ts";
import type { Broker, StatePort, Versioned } from "./types.ts";

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
  maxAttempts = 20,
): Promise<Versioned<T> | null> {
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    const current = await state.getRecord<T>(kind, id);
    const next = change(current?.value ?? null);
    if (next === undefined) return null;
    const version = await state.putRecord(kind, id, next, current?.version ?? 0);
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
  maxAttempts = 20,
): Promise<{ stored: Versioned<T> | null; alreadyMarked: boolean }> {
  let alreadyMarked = (await state.kvGet(mark.key)) !== null;
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    const current = await state.getRecord<T>(kind, id);
    const next = change(current?.value ?? null, alreadyMarked);
    if (next === undefined) return { stored: null, alreadyMarked };
    const expected = current?.version ?? 0;
    const version = alreadyMarked
      ? await state.putRecord(kind, id, next, expected)
      : await state.putRecordIfUnmarked(kind, id, next, expected, mark);
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

/** Append one audit/notification event to `mcp:events` (capped), its data redacted. Returns the event. */
export async function publishEvent(broker: Broker, input: EventInput): Promise<McpEvent> {
  const event: McpEvent = {
    v: 1,
    event_id: newId("ev_"),
    type: input.type,
    channel: input.channel,
    at: new Date().toISOString(),
    subject: input.subject,
    data: redactDeep(input.data ?? {}).value,
  };
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

/** The pause flag shared by every process (`POST /processing/pause`). */
export const PAUSE_KEY = "processing:paused";
export async function isPaused(state: StatePort): Promise<boolean> {
  return (await state.kvGet(PAUSE_KEY)) === "1";
}
export async function setPaused(state: StatePort, paused: boolean): Promise<void> {
  if (paused) await state.kvSet(PAUSE_KEY, "1");
  else await state.kvDelete(PAUSE_KEY);
}
