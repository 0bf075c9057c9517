import { Database, SQLiteError } from "bun:sqlite";
import { errorMessage, McpError } from "../../core/errors.ts";

/*
 * Tables of the embedded broker. Stream ids are stored as (ms, seq) integer pairs so SQLite orders
 * and compares them with row values; `<ms>-<seq>` strings exist only at the API boundary.
 * `streams` keeps the counters Redis keeps per stream (last id, entries added, length).
 * `kv` holds cache, seen and kv keys: the key strings carry their namespace (keys.cache(), …).
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS streams (
  name TEXT PRIMARY KEY, last_ms INTEGER NOT NULL, last_seq INTEGER NOT NULL,
  entries_added INTEGER NOT NULL, length INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS entries (
  stream TEXT NOT NULL, ms INTEGER NOT NULL, seq INTEGER NOT NULL, fields TEXT NOT NULL,
  PRIMARY KEY (stream, ms, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS groups (
  stream TEXT NOT NULL, name TEXT NOT NULL, last_ms INTEGER NOT NULL, last_seq INTEGER NOT NULL,
  entries_read INTEGER, PRIMARY KEY (stream, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pending (
  stream TEXT NOT NULL, grp TEXT NOT NULL, ms INTEGER NOT NULL, seq INTEGER NOT NULL,
  consumer TEXT NOT NULL, delivered_at INTEGER NOT NULL, deliveries INTEGER NOT NULL,
  PRIMARY KEY (stream, grp, ms, seq)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS pending_by_consumer ON pending (stream, grp, consumer, ms, seq);
CREATE TABLE IF NOT EXISTS consumers (
  stream TEXT NOT NULL, grp TEXT NOT NULL, name TEXT NOT NULL, seen_at INTEGER NOT NULL,
  PRIMARY KEY (stream, grp, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
  kind TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, json TEXT NOT NULL,
  PRIMARY KEY (kind, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_expiry ON kv (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS hashes (
  key TEXT NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (key, field)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS budget (
  name TEXT NOT NULL, id TEXT NOT NULL, at INTEGER NOT NULL, amount REAL NOT NULL,
  PRIMARY KEY (name, id)) WITHOUT ROWID;
`;

export interface EmbeddedBrokerOptions {
  /** SQLite file (created if missing), or ":memory:" for tests. */
  path: string;
  prefix?: string;
  /** How long a writer waits for another process's transaction before BROKER_LOCKED. */
  busyTimeoutMs?: number;
  /** How often a blocked read looks for appends made by other processes. */
  pollMs?: number;
}

/** One SQLite connection with the schema, transactions and error mapping. */
export class Db {
  readonly sql: Database;
  closed = false;

  constructor(opts: EmbeddedBrokerOptions) {
    try {
      this.sql = new Database(opts.path, { create: true, strict: true });
      this.sql.run(`PRAGMA busy_timeout = ${Math.floor(opts.busyTimeoutMs ?? 5_000)}`);
      // WAL lets readers run while one process writes; NORMAL sync is durable across process
      // crashes (only an OS crash can lose the last commits), like Redis with appendfsync everysec.
      this.sql.run("PRAGMA journal_mode = WAL");
      this.sql.run("PRAGMA synchronous = NORMAL");
      this.sql.exec(SCHEMA);
    } catch (err) {
      throw mapError(`open ${opts.path}`, err);
    }
  }

  /**
   * A read-modify-write step in BEGIN IMMEDIATE: the write lock is taken up front, so two
   * processes on one file are serialised by SQLite instead of failing with a deadlock.
   */
  write<T>(what: string, fn: () => T): T {
    this.check(what);
    try {
      return this.sql.transaction(fn).immediate();
    } catch (err) {
      throw mapError(what, err);
    }
  }

  /** A consistent read (one deferred transaction = one snapshot). */
  read<T>(what: string, fn: () => T): T {
    this.check(what);
    try {
      return this.sql.transaction(fn).deferred();
    } catch (err) {
      throw mapError(what, err);
    }
  }

  /** Changes whenever another connection commits: cheap to poll from a blocked read. */
  dataVersion(): number {
    if (this.closed) return -1;
    const row = this.sql.query<{ data_version: number }, []>("PRAGMA data_version").get();
    return row?.data_version ?? -1;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sql.close();
  }

  private check(what: string): void {
    if (this.closed) {
      throw new McpError("BROKER_UNAVAILABLE", `embedded broker ${what}: broker is closed`, {
        retryable: true,
      });
    }
  }
}

function mapError(what: string, err: unknown): McpError {
  if (err instanceof McpError) return err;
  const msg = `embedded broker ${what}: ${errorMessage(err)}`;
  if (err instanceof SQLiteError && /BUSY|LOCKED/.test(err.code ?? "")) {
    return new McpError("BROKER_LOCKED", msg, { retryable: true, cause: err });
  }
  return new McpError("BROKER_UNAVAILABLE", msg, { retryable: true, cause: err });
}

/** A stream id as the (ms, seq) pair SQLite compares. */
export type Id = [number, number];
export const MAX_SEQ = Number.MAX_SAFE_INTEGER;

/** Parse `<ms>-<seq>`, `<ms>` (seq defaults to `seqDefault`), "-" (smallest) or "+" (largest). */
export function parseId(s: string, seqDefault = 0): Id {
  if (s === "-") return [0, 0];
  if (s === "+") return [MAX_SEQ, MAX_SEQ];
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  if (!m) throw new McpError("VALIDATION", `invalid stream id ${JSON.stringify(s)}`);
  return [Number(m[1]), m[2] === undefined ? seqDefault : Number(m[2])];
}

export const fmtId = (ms: number, seq: number): string => `${ms}-${seq}`;
