import * as v from "valibot";
import { Id, IsoTime, ServiceName } from "./common.ts";

export const FileStatus = v.object({
  path: v.string(),
  offset: v.number(),
  size: v.number(),
  lag_bytes: v.number(),
});

/** A collector as the central side knows it: registration plus its latest heartbeat. */
export const ClientRecord = v.object({
  v: v.optional(v.literal(1), 1),
  client_id: Id,
  host: v.string(),
  service_type: ServiceName,
  registered_at: IsoTime,
  last_heartbeat: v.optional(IsoTime),
  health: v.optional(v.picklist(["ok", "degraded", "down", "unknown"]), "unknown"),
  health_detail: v.optional(v.string()),
  version: v.optional(v.string()),
  files: v.optional(v.array(FileStatus), []),
  lag_bytes: v.optional(v.number(), 0),
  spool_depth: v.optional(v.number(), 0),
  spool_bytes: v.optional(v.number(), 0),
  reading_paused: v.optional(v.boolean(), false),
  counters: v.optional(v.record(v.string(), v.number()), {}),
});
export type ClientRecord = v.InferOutput<typeof ClientRecord>;
