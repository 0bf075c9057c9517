import { hostname } from "node:os";
import * as v from "valibot";
import { ServiceName } from "../schemas/common.ts";
import { bool, brokerUrl, nonNegInt, posInt, str } from "./shapes.ts";

/**
 * `configs/client-configs/*.yml`: one collector's view of one service on one host.
 * The product description's keys (client_id, service_type, log_paths, health_check_interval,
 * backup_enabled) plus what a collector needs to never lose a line.
 */
export const ClientConfig = v.strictObject({
  client_id: v.pipe(
    v.string("expected a string"),
    v.regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, "expected an id of letters, digits, dot, dash, underscore"),
  ),
  service_type: ServiceName,
  host: v.optional(str("host name reported with every event"), hostname()),
  /** Globs; defaults come from the service's patterns file. */
  log_paths: v.optional(v.array(str("log file path or glob"))),
  health_check_interval: posInt("seconds between health checks and heartbeats", 60),
  backup_enabled: bool("back up the service's config files before every fix", true),
  broker: v.optional(
    v.strictObject({
      url: v.optional(brokerUrl("redis://… or sqlite:PATH"), "redis://127.0.0.1:6379"),
      prefix: v.optional(str("key prefix"), "mcp:"),
      durable: bool(
        "events leave the spool only once Redis has them in its fsynced AOF (WAITAOF on Redis 7.2+; before, start only with appendfsync always)",
        false,
      ),
      wait_replicas: nonNegInt(
        "appends resolve only once this many replicas hold them (WAIT after each batch), so a failover to a replica loses no acknowledged event; 0 = do not wait",
        0,
      ),
    }),
    {},
  ),
  state_dir: v.optional(str("folder of the local spool + checkpoint database"), "/var/lib/mcpmon"),
  read_from: v.optional(v.picklist(["end", "beginning"], 'expected "end" or "beginning"'), "end"),
  max_line_bytes: posInt("longer lines are cut and flagged (their head and tail are kept)", 65536),
  max_line_tail_bytes: nonNegInt(
    "bytes kept from the end of a cut line: if its head matches nothing and its end mentions an error, it is shipped as collector-cut-line",
    4096,
  ),
  multiline: v.optional(
    v.strictObject({
      max_wait_ms: posInt(
        "how long an unfinished last line waits for its newline before it is shipped flagged partial (and completed if its rest comes)",
        10_000,
      ),
      max_bytes: posInt(
        "bytes of one multiline record; past it only its last tail_lines lines are kept",
        262_144,
      ),
      tail_lines: nonNegInt("lines kept from the end of a record cut at max_lines or max_bytes", 20),
    }),
    {},
  ),
  poll_interval_ms: posInt("stat poll interval, the fallback of fs.watch", 250),
  batch: v.optional(
    v.strictObject({
      max_events: posInt("events per broker append", 500),
      max_wait_ms: nonNegInt("how long a partial batch waits", 100),
    }),
    {},
  ),
  spool: v.optional(
    v.strictObject({
      max_bytes: posInt("spool size at which reading pauses", 256 * 1024 * 1024),
    }),
    {},
  ),
  flood: v.optional(
    v.strictObject({
      max_per_second: posInt("records of one pattern+template per second per file before folding", 20),
      max_distinct: posInt(
        "distinct values of a remediation's fields one fold keeps a sample record of (the rest are counted)",
        1000,
      ),
    }),
    {},
  ),
  detect: v.optional(
    v.strictObject({
      min_level: v.optional(
        str(
          "records no pattern matches ship from this level up (a level of the service's detect.levels, e.g. warn, WARNING); default the patterns file's detect.min_level",
        ),
      ),
      unmatched: v.optional(
        v.pipe(
          v.picklist(["ship", "drop"], 'expected "ship" or "drop"'),
          v.description(
            "ship records no pattern matches (at or above min_level) as <service>-unmatched, or drop them; default the patterns file's detect.unmatched",
          ),
        ),
      ),
    }),
    {},
  ),
  /** Overrides the patterns file's health check (e.g. another port). */
  health_check: v.optional(v.record(v.string(), v.unknown())),
});
export type ClientConfig = v.InferOutput<typeof ClientConfig>;
