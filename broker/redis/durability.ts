import { McpError } from "../../core/errors.ts";
import type { BrokerDurability } from "../types.ts";
import type { Client } from "./clients.ts";

/** What a Redis server says about its persistence. */
export interface RedisPersistence {
  version: string;
  /** appendonly yes (INFO persistence aof_enabled). */
  aof: boolean;
  /** CONFIG GET appendfsync; undefined when CONFIG is refused (managed Redis, renamed command). */
  fsync: string | undefined;
}

/** WAITAOF (wait until the AOF holding our writes is fsynced) exists from Redis 7.2. */
export const WAITAOF_SINCE = [7, 2];

/** INFO server + persistence and CONFIG GET appendfsync, on an ioredis connection. */
export async function readPersistence(r: Client): Promise<RedisPersistence> {
  const info = `${await r.info("server")}\n${await r.info("persistence")}`;
  const field = (k: string) => new RegExp(`^${k}:(.*)$`, "m").exec(info)?.[1]?.trim();
  let fsync: string | undefined;
  try {
    const reply = (await r.call("CONFIG", "GET", "appendfsync")) as string[];
    fsync = reply[1];
  } catch {
    fsync = undefined;
  }
  return { version: field("redis_version") ?? "0", aof: field("aof_enabled") === "1", fsync };
}

export function hasWaitAof(version: string): boolean {
  const [major = 0, minor = 0] = version.split(".").map(Number);
  return major > WAITAOF_SINCE[0]! || (major === WAITAOF_SINCE[0] && minor >= WAITAOF_SINCE[1]!);
}

/**
 * How appends can be made to survive a Redis restart (or a power loss) on this server:
 * `waitaof` (Redis 7.2+ with AOF: each batch is followed by WAITAOF 1 0), `fsync-always` (older
 * Redis with appendfsync always: Redis fsyncs the AOF before it replies), or `none`. `required`
 * is broker.durable; `problem` says why it cannot be met, `warning` what a non-durable setup loses.
 */
export function assessDurability(p: RedisPersistence, required: boolean): BrokerDurability {
  const base = { aof: p.aof, version: p.version, required, ...(p.fsync ? { fsync: p.fsync } : {}) };
  if (!p.aof) {
    return {
      ...base,
      mode: "none",
      problem: `Redis ${p.version} runs without AOF (appendonly no)`,
      warning:
        "the broker runs without AOF (appendonly no): events Redis acknowledged are lost when it restarts (RDB snapshots keep only what was saved); set appendonly yes, and broker.durable: true to wait for its fsync",
    };
  }
  if (hasWaitAof(p.version)) return { ...base, mode: "waitaof" };
  if (p.fsync === "always") return { ...base, mode: "fsync-always" };
  return {
    ...base,
    mode: "none",
    problem:
      p.fsync === undefined
        ? `Redis ${p.version} refuses CONFIG GET appendfsync and has no WAITAOF (7.2+): cannot tell that appends are fsynced`
        : `Redis ${p.version} has appendfsync ${p.fsync} and no WAITAOF (7.2+): an acknowledged append may not be on disk`,
  };
}

/** The error for a broker that must be durable and is not (not retryable: Redis's config must change). */
export function notDurable(d: BrokerDurability): McpError {
  return new McpError(
    "BROKER_NOT_DURABLE",
    `broker.durable is true but ${d.problem}: set appendonly yes and appendfsync always (or use Redis 7.2+ with AOF)`,
    { details: { mode: d.mode, version: d.version, fsync: d.fsync } },
  );
}
