import { enqueueFix, ensureEnqueued, publishEvent } from "../broker/records.ts";
import type { Broker } from "../broker/types.ts";
import { errorMessage } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import type { Fix } from "../core/schemas/fix.ts";
import { leaseKey } from "./lease.ts";
import { mirrorOnIncident } from "./outcome.ts";

/**
 * The sweeper finds fixes whose record and queue disagree and repairs them: every hand-off is
 * already idempotent and completed on redelivery, and this covers the cases no redelivery will
 * come for (the entry was acknowledged, trimmed, or never appended).
 *
 * - `queued_not_enqueued`: the record says queued, it never reached mcp:fixes (the append failed
 *   after the record was written) → enqueued.
 * - `queued_without_entry`: queued and enqueued once, but no entry for it is left on mcp:fixes
 *   (lost with a Redis restart without AOF) → enqueued again.
 * - `executing_without_lease`: the run named on the record holds no lease and no entry for the
 *   fix is left to bring it to a recoverer → enqueued, so an executor recovers it (rolls back,
 *   never re-runs).
 * - `incident_behind_fix`: the fix is final but its incident still says queued or executing →
 *   the incident follows.
 *
 * Only records untouched for `graceMs` are looked at, so work in flight is left alone. Several
 * sweepers at once are harmless: a second entry for a fix is fenced by its record. Each repair is
 * logged and published as a `sweeper.repaired` event (counted in `mcp_sweeper_repairs_total`).
 */
export type RepairKind =
  | "queued_not_enqueued"
  | "queued_without_entry"
  | "executing_without_lease"
  | "incident_behind_fix";

export async function sweepOnce(
  broker: Broker,
  o: { graceMs: number; log: Logger; now?: number },
): Promise<Record<RepairKind, number>> {
  const counts: Record<RepairKind, number> = {
    queued_not_enqueued: 0,
    queued_without_entry: 0,
    executing_without_lease: 0,
    incident_behind_fix: 0,
  };
  const now = o.now ?? Date.now();
  const stale = (f: Fix) => now - Date.parse(f.updated_at) >= o.graceMs;
  const fixes = (await broker.listRecords<Fix>("fix")).map((r) => r.value).filter(stale);
  if (fixes.length === 0) return counts;
  const onStream = new Set<string>();
  for (const e of await broker.range(broker.keys.fixes)) {
    try {
      onStream.add(JSON.parse(e.fields.data ?? "{}").fix_id);
    } catch {
      // A malformed entry is the consumers' to dead-letter.
    }
  }
  const repaired = async (kind: RepairKind, fix: Fix) => {
    counts[kind]++;
    o.log.warn({ fix_id: fix.fix_id, incident_id: fix.incident_id, kind }, "sweeper repaired a fix");
    await publishEvent(broker, {
      type: "sweeper.repaired",
      channel: "fixes",
      subject: fix.fix_id,
      data: { kind, status: fix.status, incident_id: fix.incident_id },
    });
  };
  for (const fix of fixes) {
    if (fix.status === "queued" && !onStream.has(fix.fix_id)) {
      const kind = fix.enqueued_at ? "queued_without_entry" : "queued_not_enqueued";
      if (await ensureEnqueued(broker, fix.fix_id, true)) await repaired(kind, fix);
    } else if (fix.status === "executing" && !onStream.has(fix.fix_id)) {
      if (fix.run && (await broker.kvGet(leaseKey(fix.fix_id, fix.run)))) continue;
      // ensureEnqueued takes queued fixes only: this one goes on the stream as it is.
      await enqueueFix(broker, fix);
      await repaired("executing_without_lease", fix);
    } else if (await mirrorOnIncident(broker, fix)) await repaired("incident_behind_fix", fix);
  }
  return counts;
}

/** Sweep every `everyMs` until stopped; failures are logged and the next sweep tries again. */
export function startSweeper(
  broker: Broker,
  o: { everyMs: number; graceMs: number; log: Logger },
): () => void {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tick = async () => {
    try {
      await sweepOnce(broker, o);
    } catch (err) {
      o.log.warn({ err: errorMessage(err) }, "sweep failed; the next one tries again");
    }
    if (!stopped) timer = setTimeout(tick, o.everyMs);
  };
  timer = setTimeout(tick, o.everyMs);
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
