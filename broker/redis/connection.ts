import type Redis from "ioredis";
import type { RedisOptions } from "ioredis";
import { errorMessage, McpError } from "../../core/errors.ts";
import { type Client, type ClientSettings, createClient, duplicateForBlocking } from "./clients.ts";
import { parseRedisUrl, type RedisTarget } from "./url.ts";

export type { Client } from "./clients.ts";
export type Topology = RedisTarget["topology"];

export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
export const DEFAULT_COMMAND_TIMEOUT_MS = 10_000;

export interface RedisBrokerOptions {
  /**
   * `redis://[user:pass@]host:port[/db]`, `rediss://…` (TLS), `redis+cluster://h1:p1,h2:p2` or
   * `redis+sentinel://h1:p1,h2:p2/mastername` (url.ts). A plain `redis://` to a cluster node is
   * detected at connect (INFO cluster) and continues as a Cluster client.
   */
  url: string;
  prefix?: string;
  /** How long a command waits for a (re)connection before rejecting with BROKER_UNAVAILABLE. */
  connectTimeoutMs?: number;
  /** Upper bound for one non-blocking command (a hung server must not hang the caller). */
  commandTimeoutMs?: number;
  /** Cap on the reconnect backoff. */
  maxBackoffMs?: number;
  /** Extra TLS options (CA, client cert) for `rediss://` (every node and sentinel). */
  tls?: RedisOptions["tls"];
  /**
   * Appends resolve only once Redis has them in its fsynced AOF (WAITAOF on 7.2+, or a server with
   * appendfsync always); a server that cannot promise that is refused (BROKER_NOT_DURABLE).
   */
  durable?: boolean;
  /**
   * Appends resolve only once this many replicas have them (WAIT after each batch): with
   * asynchronous replication a failover otherwise loses what the old master acknowledged last.
   */
  waitReplicas?: number;
}

/**
 * The command connection plus a pool of duplicated connections for blocking reads: a blocking
 * XREAD(GROUP) holds its connection for up to blockMs, so it must never share the command one.
 */
export class Connections {
  /** Replaced once, when a plain redis:// turns out to be a cluster node (`detect`). */
  private client: Client;
  private readonly target: RedisTarget;
  private readonly settings: ClientSettings;
  private readonly idle: Client[] = [];
  private readonly busy = new Set<Client>();
  private closed = false;
  private lastError: string | undefined;
  private readonly waitMs: number;
  private readonly waits = new WeakMap<Client, Promise<void>>();
  private detected: Promise<Topology> | null = null;

  constructor(opts: RedisBrokerOptions) {
    this.waitMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.target = parseRedisUrl(opts.url);
    this.settings = {
      connectMs: this.waitMs,
      commandMs: opts.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
      maxBackoffMs: opts.maxBackoffMs ?? 2_000,
      ...(opts.tls ? { tls: opts.tls } : {}),
    };
    this.client = this.watch(createClient(this.target, this.settings));
    if (this.target.topology !== "single") this.detected = Promise.resolve(this.target.topology);
  }

  private watch(c: Client): Client {
    c.on("error", (err) => {
      this.lastError = errorMessage(err);
    });
    return c;
  }

  /**
   * Single, sentinel or cluster; the first call connects. The append connection (append-conn.ts)
   * speaks to one node only, so it carries appends only on a single Redis.
   */
  async topology(what = "connect"): Promise<Topology> {
    if (!this.detected) {
      const d = this.detect(what);
      this.detected = d;
      // A failed probe (not connected yet) is tried again by the next call.
      d.catch(() => {
        if (this.detected === d) this.detected = null;
      });
    }
    return await this.detected;
  }

  /**
   * `INFO cluster` on the node of a plain redis:// URL: `cluster_enabled:1` means every key of a
   * slot another node serves would answer MOVED, so continue with a Cluster client seeded with
   * that node (it learns the others from CLUSTER SLOTS). A server that refuses INFO (ACL) is
   * taken as a single Redis, which it was before this check existed.
   */
  private async detect(what: string): Promise<Topology> {
    const single = this.client as Redis;
    await this.ready(single, what);
    let info = "";
    try {
      info = await single.info("cluster");
    } catch (err) {
      if (!/^(NOPERM|ERR)/.test(errorMessage(err))) throw toMcpError(what, err);
    }
    if (!/^cluster_enabled:1/m.test(info)) return "single";
    if (this.closed) throw unavailable(what, "broker is closed");
    this.client = this.watch(createClient({ ...this.target, topology: "cluster" }, this.settings));
    single.disconnect();
    return "cluster";
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get state(): string {
    return this.closed ? "closed" : this.client.status;
  }

  get error(): string | undefined {
    return this.lastError;
  }

  /** Run one operation on the command connection, mapping every failure to an McpError. */
  async run<T>(what: string, fn: (r: Client) => Promise<T>): Promise<T> {
    await this.topology(what);
    const c = this.client;
    await this.ready(c, what);
    try {
      return await fn(c);
    } catch (err) {
      throw toMcpError(what, err);
    }
  }

  /**
   * Run a blocking read on a pooled duplicate connection. When `close()` disconnects it, the read
   * resolves with `empty` instead of rejecting.
   */
  async blocking<T>(what: string, empty: T, fn: (r: Client) => Promise<T>): Promise<T> {
    if (this.closed) return empty;
    await this.topology(what);
    let conn = this.idle.pop();
    if (!conn) {
      conn = duplicateForBlocking(this.client, this.target, this.settings);
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
  private async ready(conn: Client, what: string): Promise<void> {
    if (this.closed) throw unavailable(what, "broker is closed");
    if (conn.status === "ready") return;
    if (conn.status === "wait") (conn.connect() as Promise<unknown>).catch(() => {});
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
      if (this.client.status === "ready") await this.client.quit();
    } catch {
      // already gone: nothing left to flush
    }
    this.client.disconnect();
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
