/**
 * `broker.url` forms for Redis, parsed by hand: `new URL` cannot hold a host list
 * (`h1:p1,h2:p2`), and the credentials must reach ioredis's Cluster and Sentinel options, which
 * take no URL.
 *
 *   redis://[user:pass@]host:port[/db]            one node; a cluster node is detected at connect
 *   rediss://…                                    the same over TLS
 *   redis+cluster://[user:pass@]h1:p1,h2:p2       Redis Cluster, any nodes as seeds
 *   redis+sentinel://[user:pass@]h1:p1,h2:p2/NAME[/db][?sentinel_password=…&sentinel_username=…]
 *
 * `rediss+cluster://` and `rediss+sentinel://` use TLS to every node (and to the sentinels).
 */
export interface RedisTarget {
  topology: "single" | "cluster" | "sentinel";
  tls: boolean;
  nodes: { host: string; port: number }[];
  username?: string;
  password?: string;
  db?: number;
  /** Sentinel: the monitored master's name, and the sentinels' own credentials when they have any. */
  masterName?: string;
  sentinelUsername?: string;
  sentinelPassword?: string;
}

export const REDIS_URL = /^rediss?(\+(cluster|sentinel))?:\/\//i;

/** Is this a `broker.url` for the Redis broker (any of the forms above)? */
export function isRedisUrl(url: string): boolean {
  return REDIS_URL.test(url.trim());
}

/** Parse a Redis `broker.url`; throws an Error saying what is wrong (never echoing the password). */
export function parseRedisUrl(url: string): RedisTarget {
  const m = /^(rediss?)(?:\+(cluster|sentinel))?:\/\/(?:([^@/]*)@)?([^/?#]*)([^?#]*)(?:\?([^#]*))?$/i.exec(
    url.trim(),
  );
  if (!m) throw new Error("expected redis://HOST:PORT, redis+cluster://H:P,H:P or redis+sentinel://H:P/NAME");
  const [, scheme = "", kind, userinfo, hostList = "", path = "", query = ""] = m;
  const topology = (kind?.toLowerCase() ?? "single") as RedisTarget["topology"];
  const nodes = hostList
    .split(",")
    .filter((h) => h !== "")
    .map((h) => node(h, topology === "sentinel" ? 26379 : 6379));
  if (nodes.length === 0) throw new Error("no host given");
  if (topology === "single" && nodes.length > 1) {
    throw new Error("several hosts need redis+cluster:// or redis+sentinel://NAME");
  }
  const segments = path.split("/").filter((s) => s !== "");
  const target: RedisTarget = { topology, tls: scheme.toLowerCase() === "rediss", nodes };
  if (userinfo) {
    const i = userinfo.indexOf(":");
    const user = decodeURIComponent(i < 0 ? userinfo : userinfo.slice(0, i));
    const pass = i < 0 ? "" : decodeURIComponent(userinfo.slice(i + 1));
    // As ioredis reads redis://: `:pass@` is the default user's password (requirepass); a user
    // without a password sends no AUTH at all.
    if (user) target.username = user;
    if (pass) target.password = pass;
  }
  if (topology === "sentinel") {
    const name = segments.shift();
    if (!name)
      throw new Error("redis+sentinel:// needs the master's name: redis+sentinel://H:P,H:P/mymaster");
    target.masterName = decodeURIComponent(name);
  }
  const params = new URLSearchParams(query);
  const db = segments[0] ?? params.get("db") ?? undefined;
  if (db !== undefined && db !== "0") {
    if (topology === "cluster") throw new Error("Redis Cluster has only database 0");
    if (!/^\d+$/.test(db)) throw new Error(`database ${JSON.stringify(db)} is not a number`);
    target.db = Number(db);
  }
  const su = params.get("sentinel_username");
  const sp = params.get("sentinel_password");
  if (su) target.sentinelUsername = su;
  if (sp) target.sentinelPassword = sp;
  return target;
}

function node(text: string, defaultPort: number): { host: string; port: number } {
  // [::1]:6379, host:6379, host
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(text);
  if (!m) throw new Error(`${JSON.stringify(text)} is not HOST or HOST:PORT`);
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  if (port < 1 || port > 65535) throw new Error(`port ${port} is out of range`);
  return { host: (m[1] ?? "").replace(/^\[|\]$/g, ""), port };
}
