import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { canConnect, freePort, waitFor } from "./ports.ts";
import { reaper } from "./reaper.ts";
import { type RedisServer, startRedis } from "./redis.ts";
import { findProgram, tempDir } from "./tmp.ts";

export interface RedisSentinelOptions {
  /** Sentinels watching the master (quorum is a majority of them). Default 3. */
  sentinels?: number;
  /** Replicas of the master. Default 1. */
  replicas?: number;
  /** The monitored master's name. Default "mymaster". */
  name?: string;
}

export interface RedisSentinelSetup {
  master: RedisServer;
  replicas: RedisServer[];
  sentinelPorts: number[];
  name: string;
  /** `redis+sentinel://127.0.0.1:S1,127.0.0.1:S2,…/NAME` */
  url: string;
  stop(): Promise<void>;
}

/**
 * A master, its replicas and `sentinels` redis-server --sentinel processes on loopback, in one temp
 * folder; resolves once every sentinel knows the master and its replicas.
 */
export async function startRedisSentinel(opts: RedisSentinelOptions = {}): Promise<RedisSentinelSetup> {
  const server = findProgram("redis-server");
  if (!server) throw new Error("redis-server not found (apt-get install redis-server)");
  const name = opts.name ?? "mymaster";
  const count = opts.sentinels ?? 3;
  const tmp = tempDir("mcpmon-redis-sentinel-");
  const guard = reaper({ dir: tmp.path, signal: "9" });
  const procs: ReturnType<typeof Bun.spawn>[] = [];
  const servers: RedisServer[] = [];
  const stop = async () => {
    for (const p of procs) p.kill("SIGTERM");
    await Promise.all(procs.map((p) => p.exited));
    await Promise.all(servers.map((s) => s.stop()));
    guard.cancel();
    tmp.cleanup();
  };
  try {
    // Every node may become a master: none waits 5 s for more replicas before the first sync.
    const fast = ["--repl-diskless-sync-delay", "0"];
    const master = await startRedis({ dir: join(tmp.path, "master"), args: fast });
    servers.push(master);
    const replicas: RedisServer[] = [];
    for (let i = 0; i < (opts.replicas ?? 1); i++) {
      const r = await startRedis({
        dir: join(tmp.path, `replica${i}`),
        args: [...fast, "--replicaof", "127.0.0.1", String(master.port)],
      });
      servers.push(r);
      replicas.push(r);
    }
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const port = await freePort();
      const conf = join(tmp.path, `sentinel${i}.conf`);
      // Sentinel rewrites its config file (it must be writable); it is the only state it keeps.
      writeFileSync(
        conf,
        [
          `port ${port}`,
          "bind 127.0.0.1",
          `dir ${tmp.path}`,
          `logfile ${join(tmp.path, `sentinel${i}.log`)}`,
          `sentinel monitor ${name} 127.0.0.1 ${master.port} ${Math.floor(count / 2) + 1}`,
          `sentinel down-after-milliseconds ${name} 1000`,
          `sentinel failover-timeout ${name} 5000`,
          "",
        ].join("\n"),
      );
      const p = Bun.spawn([server, conf, "--sentinel"], { stdout: "ignore", stderr: "ignore" });
      procs.push(p);
      guard.watch(p.pid, `127.0.0.1:${port}`);
      await waitFor(`redis-sentinel on ${port}`, async () => {
        if (p.exitCode !== null) throw new Error(`redis-sentinel exited with ${p.exitCode}`);
        return await canConnect(port);
      });
      ports.push(port);
    }
    await waitFor(
      "every sentinel sees the master's replicas",
      async () => {
        for (const port of ports) {
          const out = await master.cli(["-p", String(port), "SENTINEL", "REPLICAS", name]);
          if ((out.match(/^ip$/gm) ?? []).length < replicas.length) return false;
        }
        return true;
      },
      30_000,
      200,
    );
    return {
      master,
      replicas,
      sentinelPorts: ports,
      name,
      url: `redis+sentinel://${ports.map((p) => `127.0.0.1:${p}`).join(",")}/${name}`,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
