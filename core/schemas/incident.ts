import * as v from "valibot";
import { Id, IsoTime, ServiceName, Severity } from "./common.ts";

export const IncidentStatus = v.picklist([
  "new",
  "analyzing",
  "proposed",
  "awaiting_approval",
  "queued",
  "executing",
  "fixed",
  "failed",
  "rolled_back",
  "needs_human",
  "ignored",
]);
export type IncidentStatus = v.InferOutput<typeof IncidentStatus>;

export const StatusChange = v.object({
  at: IsoTime,
  from: v.nullable(IncidentStatus),
  to: IncidentStatus,
  reason: v.optional(v.string()),
});

/** One incident per fingerprint (and target host where the fix is host-specific). */
export const Incident = v.object({
  v: v.optional(v.literal(1), 1),
  incident_id: Id,
  fingerprint: v.string(),
  service: ServiceName,
  pattern_id: Id,
  template: v.string(),
  severity: Severity,
  category: v.optional(v.string(), "other"),
  hosts: v.array(v.string()),
  client_ids: v.array(v.string()),
  count: v.pipe(v.number(), v.integer(), v.minValue(0)),
  first_seen: IsoTime,
  last_seen: IsoTime,
  /** Up to 5 redacted sample records. */
  samples: v.array(v.string()),
  fields: v.optional(v.record(v.string(), v.string()), {}),
  status: IncidentStatus,
  status_reason: v.optional(v.string()),
  fix_ids: v.optional(v.array(Id), []),
  /** When fixes were applied, for the loop guard (N fixes inside a window → needs_human). */
  fixed_at: v.optional(v.array(IsoTime), []),
  regressions: v.optional(v.pipe(v.number(), v.integer()), 0),
  analysis_source: v.optional(v.picklist(["rule", "cache", "claude", "none"])),
  diagnosis: v.optional(v.string()),
  history: v.optional(v.array(StatusChange), []),
});
export type Incident = v.InferOutput<typeof Incident>;
