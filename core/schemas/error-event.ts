import * as v from "valibot";
import { Fields, Id, IsoTime, ServiceName, Severity, Slug } from "./common.ts";

/**
 * One matched log record: an entry of `mcp:errors`, written by collectors and `POST /errors`.
 * `event_id` is stable (derived from client, file identity and offset), so an entry shipped twice
 * after a crash carries the same id and downstream drops the copy.
 */
export const ErrorEvent = v.object({
  v: v.optional(v.literal(1), 1),
  event_id: Id,
  client_id: Id,
  host: v.pipe(v.string(), v.minLength(1), v.maxLength(255)),
  service: ServiceName,
  source: v.optional(
    v.object({
      path: v.string(),
      /** device:inode:fingerprint of the file, stable across renames. */
      file_id: v.optional(v.string()),
      offset: v.pipe(v.number(), v.integer(), v.minValue(0)),
      /** Offset of the last record folded into this event by flood control. */
      last_offset: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
    }),
  ),
  time: IsoTime,
  pattern_id: Slug,
  severity: Severity,
  category: v.optional(Slug, "other"),
  /** The (redacted) record, possibly several lines for multiline records. */
  message: v.pipe(v.string(), v.maxLength(1_048_576)),
  fields: v.optional(Fields, {}),
  /** How many records this event stands for (> 1 when flood control folded them). */
  count: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 1),
  truncated: v.optional(v.boolean()),
  /**
   * The record's last line had no newline when the collector gave up waiting for it: this event has
   * its own id, and if the rest arrives the whole record follows as another event (at the same offset).
   */
  partial: v.optional(v.boolean()),
  /**
   * This whole record completes a line the collector shipped earlier as `partial` (at the same
   * offset): the analyzer takes the partial's count back, so the line is counted once.
   */
  supersedes_partial: v.optional(v.boolean()),
  /**
   * Lines that followed the record's first line but would have changed what it matched (taken its
   * fields or its fix away): kept here, beside the message, for a person to read.
   */
  continuation: v.optional(v.pipe(v.string(), v.maxLength(1_048_576))),
  /**
   * A fold's distinct targets (flood control): one sample record per distinct value of the fields
   * its remediation needs, with how many records had it; `rest` records were past the bounds.
   */
  distinct: v.optional(
    v.object({
      fields: v.array(v.string()),
      samples: v.array(
        v.object({
          offset: v.pipe(v.number(), v.integer(), v.minValue(0)),
          count: v.pipe(v.number(), v.integer(), v.minValue(1)),
          message: v.pipe(v.string(), v.maxLength(1_048_576)),
        }),
      ),
      rest: v.pipe(v.number(), v.integer(), v.minValue(0)),
    }),
  ),
  redactions: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
});
export type ErrorEvent = v.InferOutput<typeof ErrorEvent>;
export type ErrorEventInput = v.InferInput<typeof ErrorEvent>;
