import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { freePort, waitFor } from "./ports.ts";
import { reaper } from "./reaper.ts";
import { tempDir } from "./tmp.ts";

/** The OS account tests log in as unless they ask for root. Its shell is /bin/sh (see below). */
export const SSH_TEST_USER = "mcpmon-test";

export interface SshdOptions {
  /** Account to log in as: the dedicated test user (default) or "root". */
  user?: string;
  /** Extra sshd_config lines, placed before the harness's own so they win (sshd keeps the first value). */
  extraConfig?: string;
}

export interface SshdServer {
  host: "127.0.0.1";
  port: number;
  user: string;
  /** "ssh-ed25519 AAAA…" without comment. */
  hostKeyPub: string;
  /** The base64 field alone: what ssh2's `hostVerifier` compares with. */
  hostKeyBase64: string;
  clientKeyPath: string;
  /** The private key text (OpenSSH format), for ssh2's `privateKey`. */
  clientKey: string;
  clientKeyPub: string;
  /** "[127.0.0.1]:PORT ssh-ed25519 AAAA…", one line for a known_hosts file. */
  knownHostsLine: string;
  /** The listening sshd (changes on restart). */
  readonly pid: number;
  logFile: string;
  dir: string;
  /** Simulate sshd dying: SIGKILL the listener and every session it forked; connections drop. */
  kill(): void;
  /** Start sshd again on the same port with the same keys (after kill(), or to drop all sessions). */
  restart(): Promise<void>;
  /** Stop sshd and its sessions and remove the temp dir. Idempotent; also done if the test process dies. */
  stop(): Promise<void>;
}

const SSHD = "/usr/sbin/sshd"; // sshd refuses to re-exec itself unless started by absolute path

function run(argv: string[]): { code: number; out: string } {
  const r = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode ?? -1, out: `${r.stdout.toString()}${r.stderr.toString()}` };
}

/**
 * Create the test account once. The password field must be `*`, not useradd's default `!`: with
 * `UsePAM no` sshd treats `!` as a locked account and refuses even key logins. Home is `/` so that
 * sshd does not print "Could not chdir to home directory" on the stderr of every command.
 */
export function ensureSshTestUser(name = SSH_TEST_USER): void {
  if (run(["getent", "passwd", name]).code !== 0) {
    const r = run(["useradd", "-M", "-d", "/", "-s", "/bin/sh", name]);
    // 9 = already exists: another test process created it in between.
    if (r.code !== 0 && r.code !== 9) throw new Error(`useradd ${name} failed: ${r.out}`);
  }
  const shadow = run(["getent", "shadow", name]).out.split(":")[1] ?? "";
  if (shadow.startsWith("!")) {
    const r = run(["usermod", "-p", "*", name]);
    if (r.code !== 0) throw new Error(`usermod -p '*' ${name} failed: ${r.out}`);
  }
}

/** Every process below `pid`, found by scanning /proc (no dependency on pgrep). */
function descendants(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Field 4 of /proc/PID/stat is the parent pid; the name field (2) may contain spaces, so cut after ")".
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = parents.get(ppid) ?? [];
      list.push(Number(entry));
      parents.set(ppid, list);
    } catch {
      // the process exited while we looked
    }
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length) {
    for (const child of parents.get(queue.shift()!) ?? []) {
      out.push(child);
      queue.push(child);
    }
  }
  return out;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

function signalTree(pid: number, sig: NodeJS.Signals): void {
  for (const p of [pid, ...descendants(pid)]) signal(p, sig);
}

function keygen(path: string, comment: string): { priv: string; pub: string } {
  const r = run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path]);
  if (r.code !== 0) throw new Error(`ssh-keygen failed: ${r.out}`);
  return { priv: readFileSync(path, "utf8"), pub: readFileSync(`${path}.pub`, "utf8").trim() };
}

function sshdConfig(dir: string, port: number, user: string, extra: string): string {
  return `${[
    extra,
    `ListenAddress 127.0.0.1:${port}`,
    `HostKey ${join(dir, "ssh_host_ed25519_key")}`,
    `PidFile ${join(dir, "sshd.pid")}`,
    `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
    "PubkeyAuthentication yes",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "UsePAM no",
    // The temp dir is not laid out like a home directory; StrictModes would reject it.
    "StrictModes no",
    "PermitRootLogin prohibit-password",
    `AllowUsers ${user}`,
    "LogLevel VERBOSE",
    "UseDNS no",
    "PrintMotd no",
    "PrintLastLog no",
    // Executors use SFTP for backups and file writes.
    "Subsystem sftp internal-sftp",
    // Pools and parallel tests open many connections and channels; the defaults (10) drop some.
    "MaxStartups 200",
    "MaxSessions 200",
  ].join("\n")}\n`;
}

/**
 * Start a real OpenSSH server on a free loopback port with fresh ed25519 host and client keys.
 *
 * @example
 *   const sshd = await startSshd();
 *   conn.connect({ host: sshd.host, port: sshd.port, username: sshd.user, privateKey: sshd.clientKey });
 *   await sshd.stop();
 */
export async function startSshd(opts: SshdOptions = {}): Promise<SshdServer> {
  const user = opts.user ?? SSH_TEST_USER;
  if (user !== "root") ensureSshTestUser(user);
  // Privilege separation dir; Debian's init script creates it, but no init runs here.
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });

  const tmp = tempDir("mcpmon-sshd-");
  const dir = tmp.path;
  // sshd reads AuthorizedKeysFile with the user's uid: the dir and file must be readable by them.
  chmodSync(dir, 0o755);
  const hostKey = keygen(join(dir, "ssh_host_ed25519_key"), "mcpmon-test-host");
  const clientKeyPath = join(dir, "id_ed25519");
  const client = keygen(clientKeyPath, "mcpmon-test-client");
  writeFileSync(join(dir, "authorized_keys"), `${client.pub}\n`, { mode: 0o644 });
  const [keyType, hostKeyBase64] = hostKey.pub.split(" ") as [string, string];
  const logFile = join(dir, "sshd.log");
  const confPath = join(dir, "sshd_config");

  // Start sshd on `port` and wait for its "Server listening" line; the log is appended across restarts.
  async function launch(port: number): Promise<Bun.Subprocess> {
    writeFileSync(confPath, sshdConfig(dir, port, user, opts.extraConfig ?? ""));
    const from = existsSync(logFile) ? statSync(logFile).size : 0;
    const newLog = () => readFileSync(logFile).subarray(from).toString("utf8");
    const p = Bun.spawn([SSHD, "-D", "-e", "-f", confPath, "-E", logFile], {
      stdin: "ignore",
      stdout: "ignore",
      stderr: "ignore",
    });
    try {
      await waitFor(`sshd on port ${port}`, () => {
        if (p.exitCode !== null || p.signalCode !== null) throw new Error(`sshd exited: ${newLog()}`);
        return existsSync(logFile) && newLog().includes(`Server listening on 127.0.0.1 port ${port}`);
      });
      return p;
    } catch (err) {
      p.kill("SIGKILL");
      await p.exited;
      throw Object.assign(err as Error, { portTaken: newLog().includes("Address already in use") });
    }
  }

  let proc: Bun.Subprocess | undefined;
  let port = 0;
  // The free port may be taken between probing and binding: retry on a fresh one.
  for (let attempt = 1; !proc; attempt++) {
    port = await freePort();
    try {
      proc = await launch(port);
    } catch (err) {
      if (attempt >= 3 || !(err as { portTaken?: boolean }).portTaken) {
        tmp.cleanup();
        throw err;
      }
    }
  }

  let running: Bun.Subprocess = proc;
  let stopped = false;
  const killAll = () => signalTree(running.pid, "SIGKILL");
  const guard = reaper({ dir, signal: "KILL" });
  guard.watch(running.pid);

  return {
    host: "127.0.0.1",
    port,
    user,
    hostKeyPub: `${keyType} ${hostKeyBase64}`,
    hostKeyBase64,
    clientKeyPath,
    clientKey: client.priv,
    clientKeyPub: client.pub,
    knownHostsLine: `[127.0.0.1]:${port} ${keyType} ${hostKeyBase64}`,
    logFile,
    dir,
    kill: killAll,
    get pid() {
      return running.pid;
    },
    async restart() {
      if (stopped) throw new Error("sshd was stopped; start a new one");
      killAll();
      await running.exited;
      running = await launch(port);
      guard.watch(running.pid);
    },
    async stop() {
      if (stopped) return;
      // SIGTERM only stops the listener; open sessions would outlive it, so the whole tree goes.
      // The tree is listed first: once the listener dies its sessions are reparented out of sight.
      const tree = [running.pid, ...descendants(running.pid)];
      for (const p of tree) signal(p, "SIGTERM");
      await Promise.race([running.exited, Bun.sleep(5_000)]);
      for (const p of tree) signal(p, "SIGKILL");
      stopped = true;
      guard.cancel();
      tmp.cleanup();
    },
  };
}

/** True when the host has everything startSshd needs (tests skip themselves otherwise). */
export function sshdAvailable(): boolean {
  return existsSync(SSHD) && Bun.which("ssh-keygen") !== null;
}
