import { updateRecordOnce } from "../broker/records.ts";
import type { Broker } from "../broker/types.ts";
import { stableId } from "../core/ids.ts";
import type { ErrorEvent } from "../core/schemas/error-event.ts";
import type { Incident } from "../core/schemas/incident.ts";

/**
 * A line a block-buffered writer split in two is shipped first as `partial` (its own id, after the
 * collector waited `multiline.max_wait_ms` for the newline), and again whole when its rest arrives
 * (`supersedes_partial`, the id of its offset). Each is counted like any event; then both try to
 * claim the line (`line:<partial id>`, set if absent), and whichever comes second takes the
 * partial's count back from the partial's incident, once (the take-back and its mark
 * `superseded:<partial id>` are one broker step). Consumers may handle the two in either order or
 * at once, and crash anywhere: the line ends counted once, as the whole record.
 */
export async function settleSplitLine(
  broker: Broker,
  event: ErrorEvent,
  incidentId: string,
  ttlMs: number,
): Promise<void> {
  if (!event.source?.file_id || !(event.partial || event.supersedes_partial)) return;
  // The collector's id of the partial version of this record (collector/events.ts).
  const partialId = event.partial
    ? event.event_id
    : stableId(event.client_id, event.source.file_id, event.source.offset, "partial");
  const claim = `line:${partialId}`;
  const mine = event.partial ? `partial:${incidentId}` : "whole";
  if (await broker.kvSet(claim, mine, { ttlMs, ifAbsent: true })) return; // first: nothing to settle
  const other = (await broker.kvGet(claim)) ?? "";
  // Second: the partial's count goes back. Ours when we are the partial; the claim names it otherwise.
  const from = event.partial
    ? other === "whole"
      ? incidentId
      : null
    : other.startsWith("partial:")
      ? other.slice(8)
      : null;
  if (!from) return;
  await updateRecordOnce<Incident>(
    broker,
    "incident",
    from,
    { key: `superseded:${partialId}`, value: event.event_id, ttlMs },
    (cur, marked) => (marked || !cur ? undefined : { ...cur, count: Math.max(0, cur.count - 1) }),
  );
}
