import { stableId } from "../core/ids.ts";
import type { ErrorEvent } from "../core/schemas/error-event.ts";

/** A fold event's distinct targets as events of their own. */
export interface ExpandedFold {
  /** One event per distinct target (the event itself when it is not a fold with targets). */
  events: ErrorEvent[];
  /** Folded records past the collector's bounds: which targets they name is unknown. */
  unlisted: number;
}

/**
 * Flood control folds the records of one pattern and message template (numbers masked) into one
 * event; 1,000 unreadable files in one second are one fold. Its `distinct` keeps one sample record
 * per distinct value of the fields the pattern's remediation needs. Each sample becomes an event of
 * its own, so that every target gets its incident and its fix:
 * - its id is the one its record would have had unfolded (client, file, offset), so a re-read that
 *   ships the record on its own after a crash is recognised as the same event;
 * - its message is the sample's, and its fields are left empty: the analyzer matches the claimed
 *   pattern again over the message and takes fields only from that match, as for any event;
 * - its count is how many folded records named that target.
 * `unlisted` > 0 means records whose targets are unknown: they need a person (one needs_human
 * incident that says how many, see `unlistedReason`).
 *
 * @example
 *   const { events, unlisted } = expandFold(event);
 *   for (const e of events) await handleOne(e);          // each with its own seen mark
 *   if (unlisted > 0) await toHuman(…, unlistedReason(event, unlisted));
 */
export function expandFold(event: ErrorEvent): ExpandedFold {
  const d = event.distinct;
  if (!d || d.samples.length === 0) return { events: [event], unlisted: d?.rest ?? 0 };
  const fileId = event.source?.file_id ?? event.source?.path ?? "";
  const events = d.samples.map((s): ErrorEvent => {
    const { distinct: _, ...rest } = event;
    const source = event.source ? { path: event.source.path, offset: s.offset } : undefined;
    if (source && event.source?.file_id) Object.assign(source, { file_id: event.source.file_id });
    return {
      ...rest,
      event_id: stableId(event.client_id, fileId, s.offset),
      message: s.message,
      fields: {},
      count: s.count,
      ...(source ? { source } : {}),
    };
  });
  return { events, unlisted: d.rest };
}

/** The status reason of the needs_human incident for a fold's unlisted records. */
export function unlistedReason(event: ErrorEvent, unlisted: number): string {
  const fields = event.distinct?.fields.join(", ") || "targets";
  return `flood control folded ${unlisted} record(s) of ${event.pattern_id} whose ${fields} were not kept (past flood.max_distinct on ${event.client_id}): look at ${event.source?.path ?? "the log"} from offset ${event.source?.offset ?? 0} to ${event.source?.last_offset ?? "its end"}`;
}
