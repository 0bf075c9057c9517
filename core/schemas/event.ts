import * as v from "valibot";
import { Id, IsoTime } from "./common.ts";

/** WebSocket channels; every event in `mcp:events` belongs to one. */
export const Channel = v.picklist(["errors", "incidents", "fixes", "clients", "tokens", "system"]);
export type Channel = v.InferOutput<typeof Channel>;

/**
 * An entry of `mcp:events`: the audit trail and the source of WebSocket notifications.
 * `type` is dotted: `incident.status`, `fix.step`, `fix.status`, `client.heartbeat`, `tokens.usage`…
 */
export const McpEvent = v.object({
  v: v.optional(v.literal(1), 1),
  event_id: Id,
  type: v.string(),
  channel: Channel,
  at: IsoTime,
  /** The incident, fix, client or event the entry is about. */
  subject: v.string(),
  data: v.optional(v.record(v.string(), v.unknown()), {}),
});
export type McpEvent = v.InferOutput<typeof McpEvent>;

/** An entry of `mcp:dlq`: a poison entry moved out of a work stream, with why. */
export const DeadLetter = v.object({
  v: v.optional(v.literal(1), 1),
  stream: v.string(),
  group: v.string(),
  entry_id: v.string(),
  deliveries: v.number(),
  reason: v.string(),
  failed_at: IsoTime,
  fields: v.record(v.string(), v.string()),
});
export type DeadLetter = v.InferOutput<typeof DeadLetter>;
