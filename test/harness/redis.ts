import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { canConnect, freePort, waitFor } from "./ports.ts";
import { reaper } from "./reaper.ts";
import { findProgram, tempDir } from "./tmp.ts";

export interface RedisOptions {
  /** Fixed port; default a free loopback port (retried if another test grabs it first). */
  port?: number;
  /** Data folder; default a fresh temp folder removed by `stop()`. */
  dir?: string;
  /** Server log path; default `<dir>/redis.log` (collector tests tail it). */
  logFile?: string;
  /** e.g. "2mb"; with `maxmemoryPolicy` (default noeviction) to provoke OOM replies. */
  maxmemory?: string;
  maxmemoryPolicy?: string;
  /** `--save` value; default "" (no RDB snapshots). */
  save?: string;
  appendonly?: boolean;
  /** `requirepass` for the default user. */
  password?: string;
  /** Extra `--name value` arguments, appended last so they win. */
  args?: string[];
}

export interface RedisServer {
  url: string;
  port: number;
  dir: string;
  logFile: string;
  /** SIGTERM and wait for exit; idempotent. Removes the temp dir unless `dir` was given. */
  stop(): Promise<void>;
  /** SIGKILL: the server dies without a shutdown (simulates a crash); the dir is kept. */
  kill(): Promise<void>;
  /** Start again on the same port and dir (after stop or kill). */
  restart(): Promise<void>;
  /** Run the real `redis-cli -p PORT ...args`; resolves with its stdout (trimmed). */
  cli(args: string[]): Promise<string>;
}

const live = new Set<ReturnType<typeof Bun.spawn>>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Scripts (bench) run "exit" listeners; `bun test` does not, hence the reaper below as well.
  process.on("exit", () => {
    for (const proc of live) proc.kill("SIGKILL");
  });
}

/** Start a real redis-server on 127.0.0.1 in a temp folder. */
export async function startRedis(opts: RedisOptions = {}): Promise<RedisServer> {
  const server = findProgram("redis-server");
  const cliBin = findProgram("redis-cli");
  if (!server || !cliBin)
    throw new Error("redis-server / redis-cli not found (apt-get install redis-server)");
  installExitHook();
  const tmp = opts.dir ? null : tempDir("mcpmon-redis-");
  const dir = opts.dir ?? tmp!.path;
  mkdirSync(dir, { recursive: true });
  const logFile = opts.logFile ?? join(dir, "redis.log");
  let port = opts.port ?? (await freePort());
  let proc: ReturnType<typeof Bun.spawn> | null = null;
  // redis-server rewrites its command line to `redis-server 127.0.0.1:PORT`: match on that.
  const guard = reaper({ ...(tmp ? { dir } : {}), signal: "9" });

  const argv = (): string[] => {
    const a = [server, "--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--logfile", logFile];
    a.push("--save", opts.save ?? "", "--appendonly", opts.appendonly ? "yes" : "no", "--daemonize", "no");
    if (opts.maxmemory) a.push("--maxmemory", opts.maxmemory);
    if (opts.maxmemory) a.push("--maxmemory-policy", opts.maxmemoryPolicy ?? "noeviction");
    if (opts.password) a.push("--requirepass", opts.password);
    return [...a, ...(opts.args ?? [])];
  };

  const launch = async (): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      const p = Bun.spawn(argv(), { stdout: "ignore", stderr: "pipe" });
      live.add(p);
      guard.watch(p.pid, `127.0.0.1:${port}`);
      proc = p;
      try {
        await waitFor(`redis-server on ${port}`, async () => {
          if (p.exitCode !== null) throw new Error(`redis-server exited with ${p.exitCode}`);
          return await canConnect(port);
        });
        return;
      } catch (err) {
        p.kill("SIGKILL");
        live.delete(p);
        // Another process may have taken the port between freePort() and bind: try a new one.
        if (opts.port !== undefined || attempt >= 3) throw err;
        port = await freePort();
      }
    }
  };

  const halt = async (signal: "SIGTERM" | "SIGKILL"): Promise<void> => {
    const p = proc;
    proc = null;
    if (!p) return;
    p.kill(signal);
    await p.exited;
    live.delete(p);
  };

  await launch();
  const auth = opts.password ? `:${encodeURIComponent(opts.password)}@` : "";
  const handle: RedisServer = {
    get url() {
      return `redis://${auth}127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    dir,
    logFile,
    async stop() {
      await halt("SIGTERM");
      guard.cancel();
      tmp?.cleanup();
    },
    kill: () => halt("SIGKILL"),
    async restart() {
      await halt("SIGTERM");
      await launch();
    },
    async cli(args) {
      const pre = opts.password ? ["--no-auth-warning", "-a", opts.password] : [];
      const p = Bun.spawn([cliBin, "-h", "127.0.0.1", "-p", String(port), ...pre, ...args], {
        stdout: "pipe",
        stderr: "pipe",
      });
      const [out, errText, code] = await Promise.all([
        new Response(p.stdout).text(),
        new Response(p.stderr).text(),
        p.exited,
      ]);
      if (code !== 0) throw new Error(`redis-cli ${args.join(" ")} exited ${code}: ${errText}`);
      return out.trim();
    },
  };
  return handle;
}
