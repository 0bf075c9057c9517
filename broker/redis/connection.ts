import Redis, { type RedisOptions } from "ioredis";
import { errorMessage, McpError } from "../../core/errors.ts";

export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
export const DEFAULT_COMMAND_TIMEOUT_MS = 10_000;

export interface RedisBrokerOptions {
  /** `redis://[user:pass@]host:port[/db]` or `rediss://…` (TLS). */
  url: string;
  prefix?: string;
  /** How long a command waits for a (re)connection before rejecting with BROKER_UNAVAILABLE. */
  connectTimeoutMs?: number;
  /** Upper bound for one non-blocking command (a hung server must not hang the caller). */
  commandTimeoutMs?: number;
  /** Cap on the reconnect backoff. */
  maxBackoffMs?: number;
  /** Extra TLS options (CA, client cert) for `rediss://`. */
  tls?: RedisOptions["tls"];
  /**
   * Appends resolve only once Redis has them in its fsynced AOF (WAITAOF on 7.2+, or a server with
   * appendfsync always); a server that cannot promise that is refused (BROKER_NOT_DURABLE).
   */
  durable?: boolean;
}

/**
 * The command connection plus a pool of duplicated connections for blocking reads: a blocking
 * XREAD(GROUP) holds its connection for up to blockMs, so it must never share the command one.
 */
export class Connections {
  readonly cmd: Redis;
  private readonly idle: Redis[] = [];
  private readonly busy = new Set<Redis>();
  private closed = false;
  private lastError: string | undefined;
  private readonly waitMs: number;
  private readonly waits = new WeakMap<Redis, Promise<void>>();

  constructor(opts: RedisBrokerOptions) {
    this.waitMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const maxBackoff = opts.maxBackoffMs ?? 2_000;
    const tls = opts.tls ?? (/^rediss:/i.test(opts.url) ? {} : undefined);
    const base: RedisOptions = {
      connectTimeout: this.waitMs,
      // Commands fail fast while disconnected instead of queueing forever; `run` adds a bounded
      // wait for the connection so a short outage or the start-up handshake is ridden out.
      enableOfflineQueue: false,
      // A command in flight when the socket drops is rejected, never replayed behind our back.
      maxRetriesPerRequest: 0,
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), maxBackoff),
      commandTimeout: opts.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
      ...(tls ? { tls } : {}),
    };
    this.cmd = new Redis(opts.url, base);
    this.cmd.on("error", (err) => {
      this.lastError = errorMessage(err);
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get state(): string {
    return this.closed ? "closed" : this.cmd.status;
  }

  get error(): string | undefined {
    return this.lastError;
  }

  /** Run one operation on the command connection, mapping every failure to an McpError. */
  async run<T>(what: string, fn: (r: Redis) => Promise<T>): Promise<T> {
    await this.ready(this.cmd, what);
    try {
      return await fn(this.cmd);
    } catch (err) {
      throw toMcpError(what, err);
    }
  }

  /**
   * Run a blocking read on a pooled duplicate connection. When `close()` disconnects it, the read
   * resolves with `empty` instead of rejecting.
   */
  async blocking<T>(what: string, empty: T, fn: (r: Redis) => Promise<T>): Promise<T> {
    if (this.closed) return empty;
    let conn = this.idle.pop();
    if (!conn) {
      conn = this.cmd.duplicate({ commandTimeout: undefined });
      // Once per connection (a pooled one is reused): state is reported through the command connection.
      conn.on("error", () => {});
    }
    this.busy.add(conn);
    try {
      await this.ready(conn, what);
      return await fn(conn);
    } catch (err) {
      if (this.closed) return empty;
      throw toMcpError(what, err);
    } finally {
      this.busy.delete(conn);
      if (this.closed || conn.status !== "ready") conn.disconnect();
      else this.idle.push(conn);
    }
  }

  /** Wait (bounded) until `conn` is ready; reject with BROKER_UNAVAILABLE otherwise. */
  private async ready(conn: Redis, what: string): Promise<void> {
    if (this.closed) throw unavailable(what, "broker is closed");
    if (conn.status === "ready") return;
    if (conn.status === "wait") conn.connect().catch(() => {});
    // One shared wait per connection (not one listener pair per caller); each caller bounds it.
    let wait = this.waits.get(conn);
    if (!wait) {
      wait = new Promise<void>((resolve, reject) => {
        const onReady = () => settle();
        const onEnd = () => settle(unavailable(what, "connection ended"));
        const settle = (err?: Error) => {
          conn.off("ready", onReady);
          conn.off("end", onEnd);
          this.waits.delete(conn);
          err ? reject(err) : resolve();
        };
        conn.on("ready", onReady);
        conn.on("end", onEnd);
      });
      wait.catch(() => {});
      this.waits.set(conn, wait);
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            unavailable(what, `not connected after ${this.waitMs} ms (${this.lastError ?? conn.status})`),
          ),
        this.waitMs,
      );
    });
    try {
      await Promise.race([wait, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Disconnecting (not QUIT) makes blocked XREADGROUPs return at once.
    for (const c of [...this.busy, ...this.idle]) c.disconnect();
    this.idle.length = 0;
    try {
      if (this.cmd.status === "ready") await this.cmd.quit();
    } catch {
      // already gone: nothing left to flush
    }
    this.cmd.disconnect();
  }
}

export function unavailable(what: string, why: string, cause?: unknown): McpError {
  return new McpError("BROKER_UNAVAILABLE", `redis ${what}: ${why}`, { retryable: true, cause });
}

/**
 * Redis replies that mean "try again later" (not connected, loading, out of memory, MISCONF,
 * timeouts) become retryable BROKER_UNAVAILABLE; a missing group is NOT_FOUND so the caller
 * recreates it; anything else is INTERNAL (a bug on our side, retrying will not help).
 */
export function toMcpError(what: string, err: unknown): McpError {
  if (err instanceof McpError) return err;
  const msg = errorMessage(err);
  if (/^NOGROUP/.test(msg)) return new McpError("NOT_FOUND", `redis ${what}: ${msg}`, { cause: err });
  if (/^(ERR|WRONGTYPE|NOSCRIPT)\b/.test(msg) && !/max number of clients/.test(msg)) {
    return new McpError("INTERNAL", `redis ${what}: ${msg}`, { cause: err });
  }
  return unavailable(what, msg, err);
}
