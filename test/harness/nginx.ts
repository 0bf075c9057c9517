import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { canConnect, freePort, waitFor } from "./ports.ts";
import { reaper } from "./reaper.ts";
import { findProgram, tempDir } from "./tmp.ts";

/** Paths and ports a config template needs; `defaultNginxConfig` shows a complete one. */
export interface NginxLayout {
  port: number;
  prefix: string;
  htmlRoot: string;
  errorLog: string;
  accessLog: string;
  pidFile: string;
  /** A loopback port where nothing listens: proxying to it yields 502 and "(111: Connection refused)". */
  refusedPort: number;
}

export interface NginxOptions {
  /** Replace the whole config: a text, or a function of the layout (ports and paths are only known then). */
  config?: string | ((layout: NginxLayout) => string);
  /** Upstream port for /upstream-refused. Default 1: only root can bind it, so nothing else will. */
  refusedPort?: number;
}

export interface NginxServer {
  port: number;
  prefix: string;
  confPath: string;
  errorLog: string;
  accessLog: string;
  /** The nginx master. */
  pid: number;
  htmlRoot: string;
  /** `http://127.0.0.1:PORT` + path. */
  url(path?: string): string;
  /** SIGHUP the master, like `nginx -s reload`; ok false (old config kept) when the new one is refused. */
  reload(): Promise<{ ok: boolean; output: string }>;
  /** `nginx -t` against the current config file; output includes what it wrote to the error log. */
  testConfig(): { ok: boolean; output: string };
  /** Overwrite the config file (no reload: call reload() or testConfig() next). */
  writeConfig(text: string): void;
  stop(): Promise<void>;
}

/** The harness's default config; tests that override `config` can start from this text. */
export function defaultNginxConfig(l: NginxLayout): string {
  const tmp = (name: string) => join(l.prefix, "tmp", name);
  return `# mcpmon test nginx: foreground master so the harness owns its lifetime.
daemon off;
master_process on;
worker_processes 1;
# As root nginx would run workers as "nobody" anyway; explicit so a root-owned 0600 file is unreadable.
user nobody nogroup;
pid ${l.pidFile};
# info, so that client errors ("client intended to send too large body") are logged.
error_log ${l.errorLog} info;

events { worker_connections 128; }

http {
  access_log ${l.accessLog};
  # Debian's default temp paths are under /var/lib/nginx; keep everything in the prefix.
  client_body_temp_path ${tmp("body")};
  proxy_temp_path ${tmp("proxy")};
  fastcgi_temp_path ${tmp("fastcgi")};
  uwsgi_temp_path ${tmp("uwsgi")};
  scgi_temp_path ${tmp("scgi")};
  types { text/html html; text/plain txt; application/json json; }
  default_type application/octet-stream;

  server {
    listen 127.0.0.1:${l.port};
    server_name localhost;
    root ${l.htmlRoot};

    location / { index index.html; }
    location = /status { default_type text/plain; return 200 "ok\\n"; }
    location /upstream-refused { proxy_pass http://127.0.0.1:${l.refusedPort}; }
    location /upload {
      client_max_body_size 1k;
      default_type text/plain;
      return 200 "uploaded\\n";
    }
  }
}
`;
}

function size(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** Text appended to `path` since byte `from`. */
function readFrom(path: string, from: number): string {
  try {
    return readFileSync(path).subarray(from).toString("utf8");
  } catch {
    return "";
  }
}

/**
 * Start a real nginx as root from its own prefix on a free loopback port. The default config serves
 * `htmlRoot` (with an index.html), `/status` (200), `/upload` (413 above 1 KB) and `/upstream-refused`
 * (502); see `defaultNginxConfig`.
 */
export async function startNginx(opts: NginxOptions = {}): Promise<NginxServer> {
  const nginx = findProgram("nginx");
  if (!nginx) throw new Error("nginx not found: run scripts/install-test-deps.sh");
  const tmp = tempDir("mcpmon-nginx-");
  const prefix = tmp.path;
  // Workers run as nobody: they must be able to traverse the prefix to reach htmlRoot and temp dirs.
  chmodSync(prefix, 0o755);
  const htmlRoot = join(prefix, "html");
  for (const d of ["html", "logs", "tmp", "conf"]) mkdirSync(join(prefix, d), { mode: 0o755 });
  writeFileSync(join(htmlRoot, "index.html"), "<h1>mcpmon test nginx</h1>\n", { mode: 0o644 });
  const confPath = join(prefix, "conf", "nginx.conf");
  const errorLog = join(prefix, "logs", "error.log");
  const accessLog = join(prefix, "logs", "access.log");
  const pidFile = join(prefix, "logs", "nginx.pid");
  const base = ["-p", prefix, "-c", confPath, "-e", errorLog];

  let proc: Bun.Subprocess | undefined;
  let port = 0;
  // The free port may be taken between probing and binding: retry on a fresh one.
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    const layout: NginxLayout = {
      port,
      prefix,
      htmlRoot,
      errorLog,
      accessLog,
      pidFile,
      refusedPort: opts.refusedPort ?? 1,
    };
    const text =
      typeof opts.config === "function" ? opts.config(layout) : (opts.config ?? defaultNginxConfig(layout));
    writeFileSync(confPath, text);
    const logStart = size(errorLog);
    const p = Bun.spawn([nginx, ...base], {
      stdin: "ignore",
      stdout: "ignore",
      stderr: Bun.file(join(prefix, "logs", "stderr.log")),
    });
    try {
      // The pid file is written after the listening sockets are open, by the master we started.
      await waitFor(`nginx on port ${port}`, () => {
        if (p.exitCode !== null || p.signalCode !== null) {
          throw new Error(`nginx exited ${p.exitCode}: ${readFrom(errorLog, logStart)}`);
        }
        if (existsSync(pidFile)) return readFileSync(pidFile, "utf8").trim() === String(p.pid);
        // A custom config may put its pid file elsewhere (Debian's default is /run/nginx.pid).
        return canConnect(port);
      });
      proc = p;
      break;
    } catch (err) {
      p.kill("SIGKILL");
      await p.exited;
      if (attempt >= 3 || !readFrom(errorLog, logStart).includes("Address already in use")) {
        tmp.cleanup();
        throw err;
      }
    }
  }

  const running = proc;
  let stopped = false;
  const guard = reaper({ dir: prefix, signal: "TERM" });
  guard.watch(running.pid);

  return {
    port,
    prefix,
    confPath,
    errorLog,
    accessLog,
    htmlRoot,
    pid: running.pid,
    url: (path = "/") => `http://127.0.0.1:${port}${path.startsWith("/") ? path : `/${path}`}`,
    writeConfig: (text) => writeFileSync(confPath, text),
    testConfig() {
      const from = size(errorLog);
      const r = Bun.spawnSync([nginx, "-t", ...base], { stdout: "pipe", stderr: "pipe" });
      // With -e, nginx -t writes its verdict to the named log, not (only) to stderr.
      const output = `${r.stdout.toString()}${r.stderr.toString()}${readFrom(errorLog, from)}`;
      return { ok: r.exitCode === 0, output };
    },
    async reload() {
      const from = size(errorLog);
      running.kill("SIGHUP");
      // A refused config logs [emerg] and keeps the old one; an accepted one starts new workers.
      let output = "";
      await waitFor("nginx reload", () => {
        output = readFrom(errorLog, from);
        return /\[emerg\]|start worker process \d+/.test(output);
      });
      return { ok: !output.includes("[emerg]"), output };
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      guard.cancel();
      // SIGTERM is nginx's fast shutdown; the master exits only after its workers have.
      running.kill("SIGTERM");
      await Promise.race([running.exited, Bun.sleep(5_000)]);
      if (running.exitCode === null && running.signalCode === null) running.kill("SIGKILL");
      tmp.cleanup();
    },
  };
}
