import { makeKeys } from "../keys.ts";
import type { Broker, BrokerHealth } from "../types.ts";
import { AppendConn } from "./append-conn.ts";
import { Connections, type RedisBrokerOptions } from "./connection.ts";
import { assessDurability, readPersistence } from "./durability.ts";
import { PipelineAppends } from "./pipeline-append.ts";
import { redisState } from "./state.ts";
import { redisStreams } from "./streams.ts";

export type { RedisBrokerOptions } from "./connection.ts";

/**
 * The Redis broker (ioredis). Connects in the background and reconnects with backoff; every
 * call waits at most `connectTimeoutMs` for a connection, then rejects with BROKER_UNAVAILABLE.
 *
 * @example const broker = createRedisBroker({ url: "rediss://mcpmon:secret@redis.internal:6380" });
 */
export function createRedisBroker(opts: RedisBrokerOptions): Broker {
  const conn = new Connections(opts);
  const durability = async () =>
    assessDurability(await conn.run("durability", readPersistence), opts.durable === true);
  // With broker.durable every new append connection asks first: Redis may have restarted with
  // another config since the last one.
  const appends = new AppendConn(opts, opts.durable ? durability : undefined);
  const pipelined = new PipelineAppends(
    conn,
    opts.durable ? durability : undefined,
    opts.commandTimeoutMs,
    opts.waitReplicas,
  );
  // One hash tag for every key: the scripts touch several keys at once (keys.ts).
  const keys = makeKeys(opts.prefix, { hashTag: true });
  return {
    kind: "redis",
    keys,
    ...redisStreams(conn, keys, appends, pipelined),
    ...redisState(conn, keys),
    durability,
    async health(): Promise<BrokerHealth> {
      const started = performance.now();
      try {
        await conn.run("ping", (r) => r.ping());
        return { ok: true, kind: "redis", state: conn.state, latency_ms: performance.now() - started };
      } catch (err) {
        return { ok: false, kind: "redis", state: conn.state, error: (err as Error).message };
      }
    },
    async close() {
      await Promise.all([appends.close(), conn.close()]);
    },
  };
}
