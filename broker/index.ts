/**
 * The broker: one port (types.ts), two implementations. Components import from here only.
 *
 * @example
 *   const broker = createBroker(config.broker.url); // "redis://…", "redis+cluster://h1:p1,h2:p2", "sqlite:/var/lib/mcpmon/broker.db"
 *   await broker.ensureGroup(broker.keys.errors, GROUPS.analyzers, "0");
 */
import { McpError } from "../core/errors.ts";
import { createEmbeddedBroker, type EmbeddedBrokerOptions } from "./embedded/index.ts";
import { createRedisBroker, type RedisBrokerOptions } from "./redis/index.ts";
import { isRedisUrl, parseRedisUrl } from "./redis/url.ts";
import type { Broker } from "./types.ts";

export { createEmbeddedBroker, type EmbeddedBrokerOptions } from "./embedded/index.ts";
export {
  DEFAULT_CAPS,
  DEFAULT_CONSUMER_IDLE_MS,
  DEFAULT_TRIM_KEEP,
  GROUPS,
  hashTagged,
  type Keys,
  makeKeys,
  type RecordKind,
} from "./keys.ts";
export { notDurable } from "./redis/durability.ts";
export { createRedisBroker, type RedisBrokerOptions } from "./redis/index.ts";
export { isRedisUrl } from "./redis/url.ts";
export { startTrimmer, type TrimmerOptions } from "./trimmer.ts";
export type * from "./types.ts";

/** Options for either implementation; each takes what applies to it. */
export type BrokerOptions = Omit<RedisBrokerOptions, "url"> & Omit<EmbeddedBrokerOptions, "path">;

/**
 * Pick the implementation from the URL scheme: `redis://`, `rediss://` (TLS), `redis+cluster://`
 * and `redis+sentinel://` (redis/url.ts) → Redis;
 * `sqlite:PATH`, `sqlite://PATH`, `:memory:` or a plain file path → the embedded broker.
 */
export function createBroker(url: string, opts: BrokerOptions = {}): Broker {
  const u = url.trim();
  if (isRedisUrl(u)) {
    try {
      parseRedisUrl(u);
    } catch (err) {
      throw new McpError(
        "CONFIG_INVALID",
        `broker.url: ${(err as Error).message} in ${JSON.stringify(redact(u))}`,
      );
    }
    return createRedisBroker({ ...opts, url: u });
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(u) && !/^sqlite:/i.test(u)) {
    throw new McpError("CONFIG_INVALID", `broker.url: unsupported scheme in ${JSON.stringify(redact(u))}`);
  }
  const path = u.replace(/^sqlite:(\/\/)?/i, "");
  if (!path) throw new McpError("CONFIG_INVALID", "broker.url: sqlite: needs a file path");
  return createEmbeddedBroker({ ...opts, path });
}

/** Never echo a password from a URL into an error message. */
function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//***@");
}
