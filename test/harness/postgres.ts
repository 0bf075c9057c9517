import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { freePort, waitFor } from "./ports.ts";
import { reaper } from "./reaper.ts";
import { tempDir } from "./tmp.ts";

export interface PostgresOptions {
  /** `max_connections`; collector tests set it low to provoke "sorry, too many clients already". */
  maxConnections?: number;
  /** Non-superuser login role created for tests (default "mcpmon"), owner of a database of that name. */
  user?: string;
  /** Password of that role and of "postgres" over TCP (scram-sha-256). */
  password?: string;
  /** Extra postgresql.conf settings, written last so they win; values verbatim (quote strings). */
  settings?: Record<string, string | number>;
}

export interface PsqlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface PostgresServer {
  host: "127.0.0.1";
  port: number;
  socketDir: string;
  dataDir: string;
  /** The server's stderr (every log line, prefix '%m [%p] '); owned by root. */
  logFile: string;
  /** The postmaster. */
  pid: number;
  superuser: "postgres";
  user: string;
  password: string;
  /** `postgres://user:password@127.0.0.1:PORT/db`; default db and user "postgres", the test password. */
  url(db?: string, user?: string, password?: string): string;
  /**
   * Run SQL through psql over the unix socket (trust auth, no password), unaligned and tuples only,
   * stopping at the first error: `(await pg.psql("select 1")).stdout === "1\n"`.
   */
  psql(sql: string, opts?: { db?: string; user?: string }): Promise<PsqlResult>;
  /** Fast shutdown (SIGINT), then remove the temp dir. Idempotent; also done if the test process dies. */
  stop(): Promise<void>;
}

const PG_USER = "postgres";

/** The newest /usr/lib/postgresql/N/bin, where Debian keeps initdb and postgres (not on PATH). */
export function postgresBinDir(): string | null {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, "bin", "postgres")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], "bin") : null;
}

/**
 * PostgreSQL refuses to run as root. setpriv (util-linux) switches user and then execs, so the pid
 * Bun sees is the postmaster itself and signals reach it directly (runuser/su would sit in between).
 */
function asPostgres(argv: string[]): string[] {
  return ["setpriv", `--reuid=${PG_USER}`, `--regid=${PG_USER}`, "--init-groups", "--", ...argv];
}

function runSync(argv: string[]): { code: number; out: string } {
  const r = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode ?? -1, out: `${r.stdout.toString()}${r.stderr.toString()}` };
}

// initdb costs ~0.5 s on an idle machine and more on a busy one; copying its result costs ~0.08 s.
// One template per test process, copied for each server.
let template: Promise<string> | undefined;
function dataTemplate(bin: string): Promise<string> {
  template ??= (async () => {
    const tmp = tempDir("mcpmon-pg-template-");
    reaper({ dir: tmp.path, signal: "0" });
    runSync(["chown", PG_USER, tmp.path]);
    const data = join(tmp.path, "data");
    const initdb = Bun.spawn(
      asPostgres([join(bin, "initdb"), "-D", data, "-U", PG_USER, "-E", "UTF8", "--locale=C"]).concat([
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        "--no-sync",
        "--no-instructions",
      ]),
      { stdout: "pipe", stderr: "pipe" },
    );
    const [code, err] = await Promise.all([initdb.exited, new Response(initdb.stderr).text()]);
    if (code !== 0) throw new Error(`initdb failed (${code}): ${err}`);
    return data;
  })();
  return template;
}

const sqlString = (s: string) => `'${s.replaceAll("'", "''")}'`;
const sqlIdent = (s: string) => `"${s.replaceAll('"', '""')}"`;

/**
 * Start a real PostgreSQL (as the postgres OS user) on a free loopback port, with its socket and data
 * in a temp dir, a password-protected login role and database for tests, and fsync off.
 */
export async function startPostgres(opts: PostgresOptions = {}): Promise<PostgresServer> {
  const bin = postgresBinDir();
  if (!bin)
    throw new Error("PostgreSQL not found under /usr/lib/postgresql: run scripts/install-test-deps.sh");
  const user = opts.user ?? "mcpmon";
  const password = opts.password ?? "mcpmon-test-password";
  const maxConnections = opts.maxConnections ?? 20;

  const tmp = tempDir("mcpmon-pg-");
  const dir = tmp.path;
  const dataDir = join(dir, "data");
  const socketDir = join(dir, "sock");
  const logFile = join(dir, "postgres.log");
  mkdirSync(socketDir);
  const copy = runSync(["cp", "-a", await dataTemplate(bin), dataDir]);
  if (copy.code !== 0) throw new Error(`copying the initdb template failed: ${copy.out}`);
  runSync(["chown", PG_USER, dir, socketDir]);
  writeFileSync(
    join(dataDir, "pg_hba.conf"),
    "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n",
  );
  const baseConf = readFileSync(join(dataDir, "postgresql.conf"), "utf8");

  let proc: Bun.Subprocess | undefined;
  let port = 0;
  // The free port may be taken between probing and binding: retry on a fresh one.
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    const settings: Record<string, string | number> = {
      listen_addresses: "'127.0.0.1'",
      port,
      unix_socket_directories: sqlString(socketDir),
      max_connections: maxConnections,
      // Must stay below max_connections or the server refuses to start.
      superuser_reserved_connections: Math.min(3, Math.max(0, maxConnections - 1)),
      shared_buffers: "'16MB'",
      fsync: "off",
      synchronous_commit: "off",
      full_page_writes: "off",
      logging_collector: "off",
      log_destination: "'stderr'",
      log_line_prefix: "'%m [%p] '",
      lc_messages: "'C'",
      ...opts.settings,
    };
    const lines = Object.entries(settings).map(([k, v]) => `${k} = ${v}`);
    writeFileSync(
      join(dataDir, "postgresql.conf"),
      `${baseConf}\n# mcpmon test harness\n${lines.join("\n")}\n`,
    );

    const logStart = existsSync(logFile) ? readFileSync(logFile).length : 0;
    // Our own append-mode fd, so the file is root's and readable by tests whatever postgres's umask.
    const fd = openSync(logFile, "a", 0o644);
    const p = Bun.spawn(asPostgres([join(bin, "postgres"), "-D", dataDir]), {
      stdin: "ignore",
      stdout: fd,
      stderr: fd,
    });
    closeSync(fd);
    const newLog = () => readFileSync(logFile).subarray(logStart).toString("utf8");
    try {
      await waitFor(`postgres on port ${port}`, () => {
        if (p.exitCode !== null || p.signalCode !== null) throw new Error(`postgres exited: ${newLog()}`);
        return newLog().includes("database system is ready to accept connections");
      });
      proc = p;
      break;
    } catch (err) {
      p.kill("SIGQUIT");
      await p.exited;
      if (attempt >= 3 || !newLog().includes("Address already in use")) {
        tmp.cleanup();
        throw err;
      }
    }
  }

  const running = proc;
  let stopped = false;
  // Immediate shutdown (SIGQUIT) if we die: nobody would wait for a checkpoint.
  const guard = reaper({ dir, signal: "QUIT" });
  guard.watch(running.pid);

  async function psql(sql: string, o: { db?: string; user?: string } = {}): Promise<PsqlResult> {
    const argv = [join(bin!, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"];
    argv.push(
      "-h",
      socketDir,
      "-p",
      String(port),
      "-U",
      o.user ?? PG_USER,
      "-d",
      o.db ?? "postgres",
      "-f",
      "-",
    );
    const p = Bun.spawn(argv, { stdin: new Blob([sql]), stdout: "pipe", stderr: "pipe" });
    const [code, stdout, stderr] = await Promise.all([
      p.exited,
      new Response(p.stdout).text(),
      new Response(p.stderr).text(),
    ]);
    return { code, stdout, stderr };
  }

  const pgServer: PostgresServer = {
    host: "127.0.0.1",
    port,
    socketDir,
    dataDir,
    logFile,
    superuser: PG_USER,
    pid: running.pid,
    user,
    password,
    url: (db = "postgres", u = PG_USER, pw = password) => {
      const enc = encodeURIComponent;
      return `postgres://${enc(u)}:${enc(pw)}@127.0.0.1:${port}/${enc(db)}`;
    },
    psql,
    async stop() {
      if (stopped) return;
      stopped = true;
      guard.cancel();
      running.kill("SIGINT"); // fast shutdown: disconnects clients instead of waiting for them
      await Promise.race([running.exited, Bun.sleep(10_000)]);
      if (running.exitCode === null && running.signalCode === null) running.kill("SIGQUIT");
      tmp.cleanup();
    },
  };

  // One statement per line of stdin: CREATE DATABASE cannot run inside psql -c's implicit transaction.
  const setup = await psql(
    [
      `ALTER ROLE ${sqlIdent(PG_USER)} PASSWORD ${sqlString(password)};`,
      ...(user === PG_USER
        ? []
        : [
            `CREATE ROLE ${sqlIdent(user)} LOGIN PASSWORD ${sqlString(password)};`,
            `CREATE DATABASE ${sqlIdent(user)} OWNER ${sqlIdent(user)};`,
          ]),
    ].join("\n"),
  );
  if (setup.code !== 0) {
    await pgServer.stop();
    throw new Error(`creating the test role failed: ${setup.stderr}`);
  }
  return pgServer;
}
