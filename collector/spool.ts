import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { type CheckpointRow, CheckpointStore } from "./tail/checkpoint.ts";

/** One event waiting in the spool: its stable id and the JSON of the ErrorEvent. */
export interface SpoolRow {
  seq: number;
  event_id: string;
  data: string;
}

/** What the pipeline hands over in one commit: new events and the offsets they were read up to. */
export interface CommitBatch {
  events: Array<{ event_id: string; data: string }>;
  checkpoints: CheckpointRow[];
  /** Checkpoints of files that are closed for good (drained after rotation or deletion). */
  forget?: string[];
  /** Small facts kept with the state (e.g. "this client has started once"). */
  meta?: Record<string, string>;
}

interface Depth {
  rows: number;
  bytes: number;
}

/**
 * The collector's durable state: ONE SQLite file (`<state_dir>/collector.db`, WAL) holding the
 * spool of events not yet acknowledged by the broker and the read offset of every followed file.
 *
 * Invariant: a file's checkpoint only ever advances in the same transaction that appends the
 * events read before it. A crash (kill -9, power loss) therefore leaves both or neither: either the
 * events are spooled and the offset is past them, or neither, and the lines are read again. Events
 * leave the spool only after the broker acknowledged them (`remove` is called by the shipper after
 * `append` resolved), so every matched line reaches the broker at least once.
 */
export class StateDb {
  readonly db: Database;
  readonly checkpoints: CheckpointStore;
  private readonly depth = new Map<string, Depth>();
  private readonly insertEvent;
  private readonly peekStmt;
  private readonly removeStmt;
  private readonly removedBytes;
  private readonly metaGet;
  private readonly metaPut;
  readonly commit: (clientId: string, batch: CommitBatch) => void;

  constructor(readonly file: string) {
    this.db = new Database(file, { create: true, strict: true });
    // WAL: the shipper's deletes and the reader's inserts do not block each other, and a commit is
    // one fsync of the log. synchronous=NORMAL in WAL mode stays consistent after a crash.
    this.db.exec("PRAGMA journal_mode = WAL");
    this.db.exec("PRAGMA synchronous = NORMAL");
    this.db.exec("PRAGMA busy_timeout = 5000");
    this.db.exec(`CREATE TABLE IF NOT EXISTS spool (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      client_id TEXT NOT NULL,
      event_id TEXT NOT NULL,
      bytes INTEGER NOT NULL,
      data TEXT NOT NULL)`);
    this.db.exec("CREATE INDEX IF NOT EXISTS spool_client ON spool (client_id, seq)");
    this.db.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
    this.checkpoints = new CheckpointStore(this.db);
    for (const r of this.db
      .query<{ client_id: string; n: number; b: number }, []>(
        "SELECT client_id, count(*) AS n, coalesce(sum(bytes), 0) AS b FROM spool GROUP BY client_id",
      )
      .all())
      this.depth.set(r.client_id, { rows: r.n, bytes: r.b });

    this.insertEvent = this.db.query(
      "INSERT INTO spool (client_id, event_id, bytes, data) VALUES ($client, $id, $bytes, $data)",
    );
    this.peekStmt = this.db.query<SpoolRow, { client: string; limit: number }>(
      "SELECT seq, event_id, data FROM spool WHERE client_id = $client ORDER BY seq LIMIT $limit",
    );
    this.removedBytes = this.db.query<{ n: number; b: number }, { client: string; upto: number }>(
      "SELECT count(*) AS n, coalesce(sum(bytes), 0) AS b FROM spool WHERE client_id = $client AND seq <= $upto",
    );
    this.removeStmt = this.db.query("DELETE FROM spool WHERE client_id = $client AND seq <= $upto");
    this.metaGet = this.db.query<{ value: string }, { key: string }>(
      "SELECT value FROM meta WHERE key = $key",
    );
    this.metaPut = this.db.query("INSERT OR REPLACE INTO meta (key, value) VALUES ($key, $value)");

    const tx = this.db.transaction((clientId: string, batch: CommitBatch) => {
      let bytes = 0;
      for (const e of batch.events) {
        // Bytes, not characters: spool.max_bytes bounds the disk, and redacted messages may be UTF-8.
        const n = Buffer.byteLength(e.data);
        this.insertEvent.run({ client: clientId, id: e.event_id, bytes: n, data: e.data });
        bytes += n;
      }
      for (const c of batch.checkpoints) this.checkpoints.put(clientId, c);
      for (const id of batch.forget ?? []) this.checkpoints.remove(clientId, id);
      for (const [key, value] of Object.entries(batch.meta ?? {})) this.metaPut.run({ key, value });
      return bytes;
    });
    this.commit = (clientId, batch) => {
      const bytes = tx(clientId, batch) as number;
      // The in-memory depth changes only once the transaction committed.
      const d = this.depthOf(clientId);
      d.rows += batch.events.length;
      d.bytes += bytes;
    };
  }

  /** Oldest spooled events of a client, in read order. */
  peek(clientId: string, limit: number): SpoolRow[] {
    return this.peekStmt.all({ client: clientId, limit });
  }

  /** Drop a client's events up to `upto` (inclusive): call only after the broker acknowledged them. */
  remove(clientId: string, upto: number): void {
    const gone = this.removedBytes.get({ client: clientId, upto });
    this.removeStmt.run({ client: clientId, upto });
    const d = this.depthOf(clientId);
    d.rows = Math.max(0, d.rows - (gone?.n ?? 0));
    d.bytes = Math.max(0, d.bytes - (gone?.b ?? 0));
  }

  /** Events and bytes waiting to be shipped. */
  depthOf(clientId: string): Depth {
    let d = this.depth.get(clientId);
    if (!d) {
      d = { rows: 0, bytes: 0 };
      this.depth.set(clientId, d);
    }
    return d;
  }

  getMeta(key: string): string | undefined {
    return this.metaGet.get({ key })?.value;
  }

  close(): void {
    this.db.close();
  }
}

const open = new Map<string, { db: StateDb; users: number }>();

/**
 * The state database of `stateDir`, shared by every client of this process that uses the same
 * folder (one file, one connection: SQLite transactions of one process never wait on each other).
 * Release it with `releaseStateDb`.
 */
export function openStateDb(stateDir: string): StateDb {
  mkdirSync(stateDir, { recursive: true });
  const file = join(stateDir, "collector.db");
  const cur = open.get(file);
  if (cur) {
    cur.users++;
    return cur.db;
  }
  const db = new StateDb(file);
  open.set(file, { db, users: 1 });
  return db;
}

export function releaseStateDb(db: StateDb): void {
  const cur = open.get(db.file);
  if (!cur || cur.db !== db) return;
  if (--cur.users > 0) return;
  open.delete(db.file);
  db.close();
}
