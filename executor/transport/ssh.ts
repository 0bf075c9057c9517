import { Client, type ClientChannel } from "ssh2";
import { McpError } from "../../core/errors.ts";
import { shellQuote } from "../../core/policy/index.ts";
import { type HostKeyPolicy, verifyHostKey } from "./hostkeys.ts";
import {
  BoundedBuffer,
  DEFAULT_MAX_OUTPUT,
  type ExecOptions,
  type ExecResult,
  type FileStat,
  inheritedMode,
  parseStat,
  STAT_SCRIPT,
  type Transport,
  WRITE_SCRIPT,
  type WriteFileOptions,
} from "./types.ts";

export interface SshTargetOptions {
  host: string;
  port?: number;
  user: string;
  /** Private key text (OpenSSH or PEM). Key authentication only: no passwords, no agent. */
  privateKey: string | Buffer;
  /** Pinned host key ("ssh-ed25519 AAAA…"); when absent, knownHostsFile decides. */
  hostKey?: string;
  knownHostsFile?: string;
  trustOnFirstUse?: boolean;
  /** Pooled connections to this host (each carries several channels). Default 5. */
  maxConnections?: number;
  connectTimeoutMs?: number;
  /** Default per-command timeout. */
  commandTimeoutMs?: number;
  /** Prefix every command with `sudo -n --` (never prompts: a missing sudoers rule fails fast). */
  sudo?: boolean;
}

/**
 * Classic Diffie-Hellman takes seconds under Bun (NOTES-stack.md); only curve25519 and ECDH are
 * offered, so a host that supports neither fails fast instead of stalling every fix.
 */
const KEX = ["curve25519-sha256", "curve25519-sha256@libssh.org", "ecdh-sha2-nistp256"];
/** Channels per connection before the pool opens another one (OpenSSH's MaxSessions is 10). */
const CHANNELS_PER_CONNECTION = 4;

interface Pooled {
  client: Client;
  ready: Promise<Client>;
  active: number;
  dead: boolean;
}

/** One SSH target with a pool of connections; every method is a Transport operation. */
export function createSshTransport(o: SshTargetOptions): Transport {
  const port = o.port ?? 22;
  const target = `ssh://${o.user}@${o.host}:${port}`;
  const max = Math.max(1, o.maxConnections ?? 5);
  const pool: Pooled[] = [];
  let closed = false;

  function connect(): Pooled {
    const client = new Client();
    let refusal: McpError | undefined;
    const keyPolicy: HostKeyPolicy = { host: o.host, port };
    if (o.hostKey) keyPolicy.pinned = o.hostKey;
    if (o.knownHostsFile) keyPolicy.knownHostsFile = o.knownHostsFile;
    if (o.trustOnFirstUse) keyPolicy.trustOnFirstUse = true;
    const entry: Pooled = { client, active: 0, dead: false, ready: undefined as unknown as Promise<Client> };
    entry.ready = new Promise<Client>((resolve, reject) => {
      client.once("ready", () => resolve(client));
      // `on`, not `once`: ssh2 can emit a second error for one connection (a reset, then
      // "Connection lost before handshake" on close); an 'error' with no listener is thrown and
      // would take the whole executor process down. Rejecting a settled promise does nothing.
      client.on("error", (err: Error & { level?: string; code?: string }) => {
        entry.dead = true;
        reject(refusal ?? mapError(err, target, o.user));
      });
      client.once("close", () => {
        entry.dead = true;
        reject(refusal ?? new McpError("TRANSPORT", `${target}: connection closed`, { retryable: true }));
      });
      client.connect({
        host: o.host,
        port,
        username: o.user,
        privateKey: o.privateKey,
        readyTimeout: o.connectTimeoutMs ?? 30_000,
        keepaliveInterval: 15_000,
        algorithms: { kex: KEX as never },
        hostVerifier: (key: Buffer) => {
          const verdict = verifyHostKey(keyPolicy, key);
          if (!verdict.ok) refusal = new McpError("HOST_KEY_MISMATCH", `${target}: ${verdict.message}`);
          return verdict.ok;
        },
      });
    });
    // A failed connection leaves the pool so that the next call tries a fresh one.
    entry.ready.catch(() => {
      const i = pool.indexOf(entry);
      if (i >= 0) pool.splice(i, 1);
    });
    client.on("close", () => {
      entry.dead = true;
      const i = pool.indexOf(entry);
      if (i >= 0) pool.splice(i, 1);
    });
    pool.push(entry);
    return entry;
  }

  async function acquire(): Promise<Pooled> {
    if (closed) throw new McpError("TRANSPORT", `${target}: transport closed`);
    const live = pool.filter((p) => !p.dead);
    live.sort((a, b) => a.active - b.active);
    const least = live[0];
    const pick = !least || (least.active >= CHANNELS_PER_CONNECTION && live.length < max) ? connect() : least;
    pick.active++;
    try {
      await pick.ready;
      return pick;
    } catch (err) {
      pick.active--;
      throw err;
    }
  }

  function commandLine(argv: string[], timeoutMs: number, noSudo?: boolean): string {
    // The host's coreutils `timeout` kills the command even if our channel close is not honoured.
    const secs = Math.max(1, Math.ceil(timeoutMs / 1000));
    const words = ["timeout", "-k", "5", `${secs}s`, ...argv].map(shellQuote).join(" ");
    return o.sudo && !noSudo ? `sudo -n -- ${words}` : words;
  }

  async function exec(argv: string[], eo: ExecOptions = {}): Promise<ExecResult> {
    if (argv.length === 0) throw new McpError("VALIDATION", "empty argv");
    const timeoutMs = eo.timeoutMs ?? o.commandTimeoutMs ?? 60_000;
    const conn = await acquire();
    const started = performance.now();
    const limit = eo.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
    const out = new BoundedBuffer(limit);
    const err = new BoundedBuffer(limit);
    try {
      const channel = await new Promise<ClientChannel>((resolve, reject) => {
        conn.client.exec(commandLine(argv, timeoutMs, eo.noSudo), (e, ch) =>
          e
            ? reject(
                new McpError("TRANSPORT", `${target}: cannot open a channel: ${e.message}`, {
                  retryable: true,
                  cause: e,
                }),
              )
            : resolve(ch),
        );
      });
      let timedOut = false;
      const code = await new Promise<number | null>((resolve) => {
        // Grace beyond the remote `timeout -k 5`: only a hung host or network reaches this.
        const timer = setTimeout(() => {
          timedOut = true;
          channel.close();
          resolve(null);
        }, timeoutMs + 7_000);
        channel.on("data", (d: Buffer) => out.push(d));
        channel.stderr.on("data", (d: Buffer) => err.push(d));
        channel.on("close", (c: number | null) => {
          clearTimeout(timer);
          resolve(typeof c === "number" ? c : null);
        });
        if (eo.stdin !== undefined) channel.end(eo.stdin);
        else channel.end();
      });
      const durationMs = performance.now() - started;
      // 124/137: `timeout` fired (TERM, then KILL after the grace).
      if ((code === 124 || code === 137) && durationMs >= timeoutMs - 50) timedOut = true;
      return {
        code: timedOut ? null : code,
        stdout: out.text(),
        stderr: err.text(),
        stdoutBytes: out.bytes(),
        timedOut,
        truncated: out.truncated || err.truncated,
        durationMs,
      };
    } finally {
      conn.active--;
    }
  }

  const must = (what: string, r: ExecResult) => {
    if (r.code !== 0)
      throw new McpError("TRANSPORT", `${target}: ${what} failed (exit ${r.code}): ${r.stderr.trim()}`);
    return r;
  };

  return {
    target,
    exec,
    async readFile(path) {
      const r = must(`read ${path}`, await exec(["cat", "--", path], { maxOutputBytes: 16 * 1024 * 1024 }));
      if (r.truncated) throw new McpError("TRANSPORT", `${target}: ${path} is larger than 16 MiB`);
      return r.stdoutBytes;
    },
    async writeFile(path, data, wo: WriteFileOptions = {}) {
      // stat follows a symlink (STAT_SCRIPT uses -L) and WRITE_SCRIPT writes its target.
      const st = wo.mode === undefined || wo.uid === undefined ? await this.stat(path) : null;
      const mode = (wo.mode ?? (st ? inheritedMode(st.mode) : 0o644)).toString(8);
      const uid = wo.uid ?? st?.uid;
      const gid = wo.gid ?? st?.gid;
      const owner = uid !== undefined && gid !== undefined ? `${uid}:${gid}` : "";
      must(
        `write ${path}`,
        await exec(["sh", "-c", WRITE_SCRIPT, "mcpmon-write", path, mode, owner], { stdin: data }),
      );
    },
    async stat(path): Promise<FileStat | null> {
      return parseStat(
        must(`stat ${path}`, await exec(["sh", "-c", STAT_SCRIPT, "mcpmon-stat", path])).stdout,
      );
    },
    async realpath(path) {
      return must(`realpath ${path}`, await exec(["realpath", "-m", "--", path])).stdout.replace(/\n$/, "");
    },
    async httpGet(url, timeoutMs = 10_000) {
      const conn = await acquire();
      try {
        return await httpOverChannel(conn.client, new URL(url), timeoutMs, target);
      } finally {
        conn.active--;
      }
    },
    async close() {
      closed = true;
      for (const p of pool.splice(0)) p.client.end();
    },
  };
}

/** A minimal HTTP/1.0 GET through a forwarded TCP channel: the URL is fetched as the host sees it. */
async function httpOverChannel(
  client: Client,
  url: URL,
  timeoutMs: number,
  target: string,
): Promise<{ status: number }> {
  const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
  if (url.protocol !== "http:")
    throw new McpError("VALIDATION", `only http:// checks are supported over SSH: ${url}`);
  const stream = await new Promise<ClientChannel>((resolve, reject) => {
    client.forwardOut("127.0.0.1", 0, url.hostname, port, (e, s) =>
      e
        ? reject(
            new McpError("TRANSPORT", `${target}: cannot reach ${url.host}: ${e.message}`, {
              retryable: true,
            }),
          )
        : resolve(s),
    );
  });
  return await new Promise((resolve, reject) => {
    let head = "";
    const timer = setTimeout(() => {
      stream.close();
      reject(new McpError("TIMEOUT", `${target}: GET ${url} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    stream.on("data", (d: Buffer) => {
      head += d.toString("latin1");
      const m = /^HTTP\/\d\.\d (\d{3})/.exec(head);
      if (m) {
        clearTimeout(timer);
        stream.close();
        resolve({ status: Number(m[1]) });
      } else if (head.length > 8192 || (head.includes("\n") && !head.startsWith("HTTP/"))) {
        clearTimeout(timer);
        stream.close();
        reject(new McpError("TRANSPORT", `${target}: GET ${url}: not an HTTP answer`));
      }
    });
    stream.on("close", () => {
      clearTimeout(timer);
      reject(new McpError("TRANSPORT", `${target}: GET ${url}: connection closed without an answer`));
    });
    stream.end(
      `GET ${url.pathname}${url.search} HTTP/1.0\r\nHost: ${url.host}\r\nUser-Agent: mcpmon-executor\r\nConnection: close\r\n\r\n`,
    );
  });
}

function mapError(err: Error & { level?: string; code?: string }, target: string, user: string): McpError {
  if (err.level === "client-authentication")
    return new McpError(
      "AUTH_FAILED",
      `${target}: authentication failed for ${user} (key refused by the host)`,
      { cause: err },
    );
  if (err.level === "client-timeout")
    return new McpError("TIMEOUT", `${target}: timed out during the SSH handshake`, {
      retryable: true,
      cause: err,
    });
  if (err.code === "ECONNREFUSED")
    return new McpError("TRANSPORT", `${target}: connection refused (is sshd running?)`, {
      retryable: true,
      cause: err,
    });
  return new McpError("TRANSPORT", `${target}: ${err.message}`, { retryable: true, cause: err });
}
