import Redis, { Cluster, type ClusterOptions, type RedisOptions } from "ioredis";
import type { RedisTarget } from "./url.ts";

/** A single Redis (direct or through Sentinel) or a Cluster: the commands we use exist on both. */
export type Client = Redis | Cluster;

export interface ClientSettings {
  connectMs: number;
  commandMs: number;
  maxBackoffMs: number;
  /** Extra TLS options (CA, client cert); `{}` when the scheme is rediss and none are given. */
  tls?: RedisOptions["tls"];
}

/** Options of every node connection, whatever the topology. */
function nodeOptions(t: RedisTarget, s: ClientSettings): RedisOptions {
  const tls = s.tls ?? (t.tls ? {} : undefined);
  return {
    connectTimeout: s.connectMs,
    // Commands fail fast while disconnected instead of queueing forever; Connections.run adds a
    // bounded wait for the connection so a short outage or the start-up handshake is ridden out.
    enableOfflineQueue: false,
    // A command in flight when the socket drops is rejected, never replayed behind our back.
    maxRetriesPerRequest: 0,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), s.maxBackoffMs),
    commandTimeout: s.commandMs,
    ...(t.username ? { username: t.username } : {}),
    ...(t.password ? { password: t.password } : {}),
    ...(tls ? { tls } : {}),
  };
}

function clusterOptions(t: RedisTarget, s: ClientSettings, node: RedisOptions): ClusterOptions {
  return {
    redisOptions: node,
    enableOfflineQueue: false,
    // MOVED/ASK are followed by ioredis; after a failover CLUSTERDOWN/TRYAGAIN are retried until
    // the replica has taken over, bounded by the command timeout of each node connection.
    maxRedirections: 16,
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 100,
    slotsRefreshTimeout: s.connectMs,
    clusterRetryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), s.maxBackoffMs),
    // TLS nodes announce IPs; the certificate names the host we were given.
    ...(t.tls ? { dnsLookup: (address, done) => done(null, address) } : {}),
  };
}

/** The ioredis client for a target: Redis, Redis through Sentinel, or Cluster. */
export function createClient(t: RedisTarget, s: ClientSettings): Client {
  const node = nodeOptions(t, s);
  if (t.topology === "cluster") return new Cluster(t.nodes, clusterOptions(t, s, node));
  const db = t.db !== undefined ? { db: t.db } : {};
  if (t.topology === "sentinel") {
    return new Redis({
      ...node,
      ...db,
      sentinels: t.nodes,
      name: t.masterName ?? "mymaster",
      ...(t.sentinelUsername ? { sentinelUsername: t.sentinelUsername } : {}),
      ...(t.sentinelPassword ? { sentinelPassword: t.sentinelPassword } : {}),
      ...(t.tls ? { enableTLSForSentinelMode: true, sentinelTLS: node.tls ?? {} } : {}),
      sentinelRetryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), s.maxBackoffMs),
      // A failover makes the old master refuse writes (READONLY): reconnect, Sentinel names the new one.
      reconnectOnError: (err) => (/^READONLY/.test(err.message) ? 2 : false),
    });
  }
  const [first] = t.nodes;
  return new Redis({ ...node, ...db, host: first?.host ?? "127.0.0.1", port: first?.port ?? 6379 });
}

/**
 * A connection for blocking reads (a blocking XREAD(GROUP) must never share the command one):
 * the same topology and credentials, without the command timeout.
 */
export function duplicateForBlocking(c: Client, t: RedisTarget, s: ClientSettings): Client {
  if (c instanceof Cluster) {
    const node = { ...nodeOptions(t, s), commandTimeout: undefined };
    return c.duplicate([], { redisOptions: node });
  }
  return c.duplicate({ commandTimeout: undefined });
}
