import { join } from "node:path";
import { freePort, waitFor } from "./ports.ts";
import { reaper } from "./reaper.ts";
import { type RedisServer, startRedis } from "./redis.ts";
import { findProgram, tempDir } from "./tmp.ts";

export interface RedisClusterOptions {
  /** Masters; each gets `replicas` replicas. Default 3 and 1: the smallest cluster that fails over. */
  masters?: number;
  replicas?: number;
  /** `requirepass` and `masterauth` of every node (replicas authenticate to their master with it). */
  password?: string;
  /** How long a master may be unreachable before its replica takes over (ms). Default 2000. */
  nodeTimeoutMs?: number;
  /**
   * Also listen with TLS (certificate and key files, CA = the certificate for a self-signed one):
   * the cluster bus and replication then use TLS, and clients that connect over TLS are told the
   * TLS ports. The plain ports stay open for the harness's own redis-cli.
   */
  tls?: { cert: string; key: string; ca: string };
}

export interface RedisCluster {
  /** Every node, masters and replicas (their roles change after a failover). */
  nodes: RedisServer[];
  /** `redis+cluster://127.0.0.1:P1,127.0.0.1:P2,…` (all nodes as seeds). */
  url: string;
  /** `redis://127.0.0.1:P1`: one plain node, for the detection at connect. */
  seedUrl: string;
  /** `rediss+cluster://127.0.0.1:T1,…` with `tls`; undefined without. */
  tlsUrl: string | undefined;
  /** The node currently serving `key`'s slot as master (CLUSTER KEYSLOT + CLUSTER SLOTS). */
  masterOf(key: string): Promise<RedisServer>;
  /** Wait until every live node reports cluster_state:ok with all 16384 slots served. */
  waitOk(timeoutMs?: number): Promise<void>;
  /** `redis-cli -c` against the first live node. */
  cli(args: string[]): Promise<string>;
  stop(): Promise<void>;
}

/**
 * A real Redis Cluster on loopback: `masters × (1 + replicas)` redis-servers with
 * `--cluster-enabled yes` in one temp folder, joined with `redis-cli --cluster create`. Each node
 * gets its bus port from `--cluster-port` (a free port, not port+10000, which may be taken or
 * above 65535). Resolves once every node sees cluster_state:ok and every replica is in sync.
 */
export async function startRedisCluster(opts: RedisClusterOptions = {}): Promise<RedisCluster> {
  const cliBin = findProgram("redis-cli");
  if (!cliBin) throw new Error("redis-cli not found (apt-get install redis-server)");
  const masters = opts.masters ?? 3;
  const replicas = opts.replicas ?? 1;
  const tmp = tempDir("mcpmon-redis-cluster-");
  // The nodes' own reapers kill them if we die; this one removes the shared folder.
  const guard = reaper({ dir: tmp.path, signal: "9" });
  const auth = opts.password ? ["--requirepass", opts.password, "--masterauth", opts.password] : [];
  const nodes: RedisServer[] = [];
  const tlsPorts: number[] = [];
  try {
    for (let i = 0; i < masters * (1 + replicas); i++) {
      const tls: string[] = [];
      if (opts.tls) {
        const t = opts.tls;
        tlsPorts.push(await freePort());
        tls.push("--tls-port", String(tlsPorts[i]), "--tls-cert-file", t.cert, "--tls-key-file", t.key);
        tls.push("--tls-ca-cert-file", t.ca, "--tls-cluster", "yes", "--tls-replication", "yes");
        tls.push("--tls-auth-clients", "no");
      }
      const args = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"];
      args.push("--cluster-node-timeout", String(opts.nodeTimeoutMs ?? 2_000));
      args.push("--cluster-port", String(await freePort()), ...auth);
      // A master otherwise waits 5 s for more replicas before the first sync (and after a failover).
      args.push("--repl-diskless-sync-delay", "0");
      args.push(...tls);
      nodes.push(
        await startRedis({
          dir: join(tmp.path, `node${i}`),
          args,
          ...(opts.password ? { password: opts.password } : {}),
        }),
      );
    }
    const pre = opts.password ? ["--no-auth-warning", "-a", opts.password] : [];
    // With tls-cluster the nodes meet over TLS, so they are introduced by their TLS ports.
    if (opts.tls) pre.push("--tls", "--cacert", opts.tls.ca);
    await run(cliBin, [
      ...pre,
      "--cluster",
      "create",
      ...nodes.map((n, i) => `127.0.0.1:${opts.tls ? tlsPorts[i] : n.port}`),
      "--cluster-replicas",
      String(replicas),
      "--cluster-yes",
    ]);
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop()));
    guard.cancel();
    tmp.cleanup();
    throw err;
  }

  const alive = async (): Promise<RedisServer[]> => {
    const up: RedisServer[] = [];
    for (const n of nodes) if (await n.cli(["PING"]).catch(() => "")) up.push(n);
    return up;
  };
  const cluster: RedisCluster = {
    nodes,
    get url() {
      const userinfo = opts.password ? `:${encodeURIComponent(opts.password)}@` : "";
      return `redis+cluster://${userinfo}${nodes.map((n) => `127.0.0.1:${n.port}`).join(",")}`;
    },
    get seedUrl() {
      return nodes[0]!.url;
    },
    get tlsUrl() {
      if (!opts.tls) return undefined;
      const userinfo = opts.password ? `:${encodeURIComponent(opts.password)}@` : "";
      return `rediss+cluster://${userinfo}${tlsPorts.map((p) => `127.0.0.1:${p}`).join(",")}`;
    },
    async masterOf(key) {
      const [any] = await alive();
      if (!any) throw new Error("no cluster node is up");
      const slot = Number(await any.cli(["CLUSTER", "KEYSLOT", key]));
      for (const n of await alive()) {
        const info = await n.cli(["ROLE"]);
        if (!info.startsWith("master")) continue;
        const mine = (await n.cli(["CLUSTER", "NODES"])).split("\n").find((l) => l.includes("myself"));
        if (mine && servesSlot(mine, slot)) return n;
      }
      throw new Error(`no master serves slot ${slot} of ${key}`);
    },
    async waitOk(timeoutMs = 30_000) {
      await waitFor(
        "cluster_state:ok on every node",
        async () => {
          for (const n of await alive()) {
            const info = await n.cli(["CLUSTER", "INFO"]);
            if (!info.includes("cluster_state:ok") || !info.includes("cluster_slots_ok:16384")) return false;
            const role = await n.cli(["INFO", "replication"]);
            if (role.includes("role:slave") && !role.includes("master_link_status:up")) return false;
          }
          return true;
        },
        timeoutMs,
        100,
      );
    },
    async cli(args) {
      const [n] = await alive();
      if (!n) throw new Error("no cluster node is up");
      return await n.cli(["-c", ...args]);
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
      guard.cancel();
      tmp.cleanup();
    },
  };
  try {
    await cluster.waitOk();
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

/** Does this CLUSTER NODES line (`… connected 0-5460 10923`) list `slot`? */
function servesSlot(line: string, slot: number): boolean {
  for (const part of line.split(" ").slice(8)) {
    if (part.startsWith("[")) continue; // a slot being migrated or imported
    const [lo, hi = lo] = part.split("-").map(Number);
    if (lo !== undefined && hi !== undefined && slot >= lo && slot <= hi) return true;
  }
  return false;
}

async function run(bin: string, args: string[]): Promise<string> {
  const p = Bun.spawn([bin, ...args], { stdout: "pipe", stderr: "pipe" });
  const [out, errText, code] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  if (code !== 0) throw new Error(`redis-cli ${args.join(" ")} exited ${code}: ${errText || out}`);
  return out;
}
