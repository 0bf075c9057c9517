import * as v from "valibot";
import { Fields, ServiceName, Severity, Slug } from "../core/schemas/common.ts";
import { FixStatus } from "../core/schemas/fix.ts";
import { IncidentStatus } from "../core/schemas/incident.ts";

/** Request schemas, declared once: validation, OpenAPI document and handler types. */

const Text = (max: number) => v.pipe(v.string(), v.maxLength(max));

/** One error in the shape collectors ship to `mcp:errors`; ids and times are filled in when absent. */
export const SubmittedError = v.strictObject({
  event_id: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(200))),
  client_id: v.pipe(v.string(), v.minLength(1), v.maxLength(200)),
  host: v.pipe(v.string(), v.minLength(1), v.maxLength(255)),
  service: ServiceName,
  /**
   * Absent: the message is matched against the service's patterns file, which fills pattern id,
   * severity, category and fields; unmatched, it is `submitted`, `error` (unless given), `other`.
   */
  pattern_id: v.optional(
    v.pipe(Slug, v.description("absent: found by matching the message against the service's patterns")),
  ),
  severity: v.optional(v.pipe(Severity, v.description("absent: the pattern's, or error"))),
  category: v.optional(v.pipe(Slug, v.description("absent: the pattern's, or other"))),
  time: v.optional(v.pipe(v.string(), v.isoTimestamp())),
  message: v.pipe(v.string(), v.minLength(1), v.maxLength(65536)),
  fields: v.optional(Fields, {}),
  count: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1)), 1),
  source: v.optional(
    v.strictObject({
      path: Text(4096),
      file_id: v.optional(Text(200)),
      offset: v.pipe(v.number(), v.integer(), v.minValue(0)),
      last_offset: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
    }),
  ),
});
export type SubmittedError = v.InferOutput<typeof SubmittedError>;

export const SubmitErrorsBody = v.union([
  SubmittedError,
  v.pipe(v.array(SubmittedError), v.minLength(1), v.maxLength(1000)),
]);

const listQuery = (statuses: readonly string[]) =>
  v.object({
    status: v.optional(v.picklist(statuses, `expected one of: ${statuses.join(", ")}`)),
    service: v.optional(v.string()),
    host: v.optional(v.string()),
    since: v.optional(v.pipe(v.string(), v.isoTimestamp())),
    until: v.optional(v.pipe(v.string(), v.isoTimestamp())),
    limit: v.optional(v.pipe(v.string(), v.regex(/^0*(?:[1-9]\d{0,2}|1000)$/, "expected a number 1-1000"))),
    offset: v.optional(v.pipe(v.string(), v.regex(/^\d{1,9}$/, "expected a number 0-999999999"))),
  });

/** `GET /errors`: incidents, by incident status; `client` keeps those a client id reported. */
export const ListQuery = v.object({
  ...listQuery(IncidentStatus.options).entries,
  client: v.optional(v.string()),
});
/** `GET /fixes`: fixes, by fix status. */
export const FixListQuery = listQuery(FixStatus.options);
export type ListQuery = v.InferOutput<typeof ListQuery>;

export const RegisterClientBody = v.strictObject({
  client_id: v.pipe(
    v.string(),
    v.regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, "expected an id of letters, digits, dot, dash, underscore"),
  ),
  host: v.pipe(v.string(), v.minLength(1), v.maxLength(255)),
  service_type: ServiceName,
});

export const ApproveBody = v.optional(
  v.strictObject({
    note: v.optional(Text(2000)),
    dry_run: v.optional(v.boolean()),
  }),
  {},
);

export const RejectBody = v.strictObject({ reason: v.pipe(v.string(), v.minLength(1), v.maxLength(2000)) });

export const IgnoreBody = v.optional(v.strictObject({ reason: v.optional(Text(2000)) }), {});

export const ClearQuery = v.object({ confirm: v.optional(v.string()) });

export const IdParams = v.object({ id: v.pipe(v.string(), v.minLength(1), v.maxLength(200)) });

export function page(query: { limit?: string; offset?: string }): { limit: number; offset: number } {
  const limit = Math.min(Math.max(Number(query.limit ?? 50) || 50, 1), 1000);
  const offset = Math.max(Number(query.offset ?? 0) || 0, 0);
  return { limit, offset };
}
