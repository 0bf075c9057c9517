import type { Database } from "bun:sqlite";

/**
 * Where reading of one file stands. A file is known by device + inode, and by a fingerprint of its
 * first bytes so that a reused inode (old file deleted, new one created) is recognised as a new
 * file. `file_id` is assigned once, when the file is first seen, and kept for its whole life
 * (renames included): event ids are derived from it and the offset, so it must never change for
 * the same bytes, and must change whenever offsets restart (copytruncate, replaced content).
 */
export interface CheckpointRow {
  file_id: string;
  dev: number;
  ino: number;
  /** Last path the file was seen at (for status and logs only). */
  path: string;
  /** Byte offset up to which every record is either spooled or known not to match. */
  offset: number;
  /** How many leading bytes the fingerprint covers (grows up to FINGERPRINT_BYTES). */
  fp_len: number;
  fp_hash: string;
}

/** The `files` table of the state database; written only inside StateDb.commit's transaction. */
export class CheckpointStore {
  private readonly putStmt;
  private readonly delStmt;
  private readonly listStmt;

  constructor(db: Database) {
    db.exec(`CREATE TABLE IF NOT EXISTS files (
      client_id TEXT NOT NULL,
      file_id TEXT NOT NULL,
      dev INTEGER NOT NULL,
      ino INTEGER NOT NULL,
      path TEXT NOT NULL,
      offset INTEGER NOT NULL,
      fp_len INTEGER NOT NULL,
      fp_hash TEXT NOT NULL,
      updated_ms INTEGER NOT NULL,
      PRIMARY KEY (client_id, file_id))`);
    this.putStmt = db.query(
      `INSERT OR REPLACE INTO files (client_id, file_id, dev, ino, path, offset, fp_len, fp_hash, updated_ms)
       VALUES ($client, $file_id, $dev, $ino, $path, $offset, $fp_len, $fp_hash, $now)`,
    );
    this.delStmt = db.query("DELETE FROM files WHERE client_id = $client AND file_id = $file_id");
    this.listStmt = db.query<CheckpointRow, { client: string }>(
      "SELECT file_id, dev, ino, path, offset, fp_len, fp_hash FROM files WHERE client_id = $client",
    );
  }

  put(clientId: string, row: CheckpointRow): void {
    this.putStmt.run({ client: clientId, ...row, now: Date.now() });
  }

  remove(clientId: string, fileId: string): void {
    this.delStmt.run({ client: clientId, file_id: fileId });
  }

  /** Every checkpoint of a client, by `dev:ino` (the key files are looked up by at start-up). */
  load(clientId: string): Map<string, CheckpointRow> {
    const out = new Map<string, CheckpointRow>();
    for (const row of this.listStmt.all({ client: clientId })) out.set(`${row.dev}:${row.ino}`, row);
    return out;
  }
}
