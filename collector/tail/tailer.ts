import { closeSync, fstatSync, openSync, type Stats, statSync } from "node:fs";
import type { CheckpointRow } from "./checkpoint.ts";
import { discover, type GlobRoot, globRoot } from "./discover.ts";
import { locateOrphans } from "./orphans.ts";
import { LineReader } from "./reader.ts";
import { type Fingerprint, fingerprint, newFileId, startOffset, verify } from "./rotation.ts";
import type { FileConsumer, TailEvents, TailedFile, TailOptions } from "./types.ts";

export type { FileConsumer, TailEvents, TailedFile, TailOptions } from "./types.ts";

/**
 * Follows the files matching a client's globs. Files are keyed by `dev:ino` (never by path), so a
 * renamed file keeps being read from its descriptor until its end, while the new file at the old
 * path is opened as another file. Rotation, truncation and deletion are decided in `scan()`;
 * `read()` only reads. All calls are synchronous and made from one loop.
 */
export class Tailer {
  readonly roots: GlobRoot[];
  readonly files = new Map<string, TailedFile>();
  private readonly forgotten: string[] = [];
  /** Paths that could not be opened, with what the file looked like then (see open). */
  private readonly unopened = new Map<string, string>();
  private readonly now: () => number;
  private scans = 0;

  constructor(
    private readonly opts: TailOptions,
    /** Checkpoints from the state database, by dev:ino; consumed as files are found. */
    private readonly known: Map<string, CheckpointRow>,
    private readonly makeConsumer: (id: string, path: string, offset: number) => FileConsumer,
    private readonly events: TailEvents,
  ) {
    this.roots = opts.globs.map((g) => globRoot(g));
    this.now = opts.now ?? Date.now;
  }

  /** Find new files, notice renamed, deleted and truncated ones, close drained ones. */
  scan(): void {
    const initial = this.scans++ === 0;
    const seen = new Set<string>();
    const seenPaths = new Set<string>();
    for (const path of discover(this.roots)) {
      seenPaths.add(path);
      let st: ReturnType<typeof statSync>;
      try {
        st = statSync(path);
      } catch {
        continue; // gone between the listing and the stat
      }
      const key = `${st.dev}:${st.ino}`;
      // Hard links: the first path (sorted) names the file, so it does not flip between scans.
      if (seen.has(key)) continue;
      seen.add(key);
      const f = this.files.get(key);
      if (f) {
        if (f.path !== path) {
          f.path = path;
          f.consumer.moved(path);
        }
        f.detached = false;
      } else this.open(path, initial, st);
    }
    if (initial) this.adoptOrphans(seen);
    // Forget failures of paths that are gone, so that a file created there later is reported.
    for (const path of this.unopened.keys()) if (!seenPaths.has(path)) this.unopened.delete(path);
    const now = this.now();
    for (const [key, f] of this.files) {
      try {
        const st = fstatSync(f.fd);
        f.size = st.size;
        if (!seen.has(key) && !f.detached) {
          f.detached = true;
          f.deleted = st.nlink === 0;
          this.events.detached(f.path, f.id, f.deleted);
        }
        if (!f.detached) this.checkTruncation(f);
        else if (this.drained(f) && now - f.lastDataAt >= (this.opts.rotateWaitMs ?? 5000))
          this.closeFile(key, f);
      } catch (err) {
        this.events.error(f.path, err);
      }
    }
  }

  /**
   * Read up to `budget` bytes across the files, a chunk at a time, while `canRead()` holds
   * (it turns false when the spool is full). Returns the bytes read.
   */
  read(budget: number, canRead: () => boolean): number {
    // Truncation is checked before every read, not only at scan(): a read woken by fs.watch right
    // after a copytruncate and a fast rewrite would otherwise read the new content from the old
    // offset under the old id. One fstat per file and call; the first bytes are read again only
    // when there is something to read (and the fingerprint grows as soon as content appears).
    for (const f of this.files.values()) {
      if (f.detached) continue;
      try {
        const size = fstatSync(f.fd).size;
        if (size !== f.reader.pos) this.checkTruncation(f, size);
      } catch (err) {
        this.events.error(f.path, err);
      }
    }
    let total = 0;
    let progress = true;
    while (progress && total < budget) {
      progress = false;
      for (const f of this.files.values()) {
        if (!canRead()) return total;
        let n = 0;
        try {
          n = f.reader.readChunk(f.consumer.line);
        } catch (err) {
          this.events.error(f.path, err);
        }
        if (n > 0) {
          total += n;
          progress = true;
          f.lastDataAt = this.now();
          f.flushed = false;
          f.peeked = false;
          if (f.reader.pos > f.size) f.size = f.reader.pos;
        }
      }
    }
    return total;
  }

  /**
   * Close open records of files idle for `flushMs` that are read to their end. A file with bytes
   * left to read (spool full, a failed read) stopped mid-record only because we stopped: flushing
   * would cut the record in two. So nothing is flushed while `paused`, and each file is checked
   * with one fstat (once per idle period: `flushed` is cleared by new data). An unfinished last
   * line waits for its newline up to `partialWaitMs` (block-buffered writers split lines seconds
   * apart), the record before it closing only if the line's head already starts a new one; past
   * the wait it is given flagged partial, and again whole if its rest arrives (see LineReader).
   */
  flushIdle(now = this.now(), paused = false): void {
    if (paused) return;
    const partialWait = Math.max(this.opts.partialWaitMs ?? this.opts.flushMs, this.opts.flushMs);
    for (const f of this.files.values()) {
      if (f.flushed || now - f.lastDataAt < this.opts.flushMs) continue;
      try {
        if (fstatSync(f.fd).size > f.reader.pos) continue;
      } catch {
        continue; // closed under us: the next scan reports it
      }
      if (f.reader.waitingPartial) {
        if (now - f.lastDataAt < partialWait) {
          if (!f.peeked) f.consumer.flushBefore(f.reader.peekPartial());
          f.peeked = true;
          continue;
        }
        f.reader.flushPartial(f.consumer.line);
      }
      f.consumer.flush();
      f.flushed = true;
    }
  }

  /**
   * The checkpoints to write: every file whose safe offset moved, plus files closed for good.
   * Call `committed()` with the rows once the transaction holding them (and the events read before
   * them) has committed.
   */
  checkpoints(): { rows: CheckpointRow[]; forget: string[] } {
    const rows: CheckpointRow[] = [];
    for (const f of this.files.values()) {
      const offset = Math.min(f.reader.lineStart, f.consumer.safeOffset(), f.consumer.heldFrom());
      if (offset === f.committed) continue;
      rows.push({
        file_id: f.id,
        dev: f.dev,
        ino: f.ino,
        path: f.path,
        offset,
        fp_len: f.fp.len,
        fp_hash: f.fp.hash,
      });
    }
    return { rows, forget: this.forgotten.splice(0) };
  }

  committed(rows: CheckpointRow[]): void {
    const byId = new Map(rows.map((r) => [r.file_id, r.offset]));
    for (const f of this.files.values()) {
      const o = byId.get(f.id);
      if (o !== undefined) f.committed = o;
    }
  }

  /** Look at the files' sizes now (status and heartbeats report lag from them). */
  refreshSizes(): void {
    for (const f of this.files.values()) {
      try {
        f.size = Math.max(fstatSync(f.fd).size, 0);
      } catch {
        // closed under us: the next scan reports it
      }
    }
  }

  /** Bytes written to followed files and not read yet. */
  lag(): number {
    let lag = 0;
    for (const f of this.files.values()) lag += Math.max(0, f.size - f.reader.pos);
    return lag;
  }

  close(): void {
    for (const f of this.files.values()) closeQuietly(f.fd);
    this.files.clear();
  }

  private open(path: string, initial: boolean, seen: Stats): void {
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (err) {
      // e.g. permission denied: retried at every scan, reported again only when the file changed
      // (chmod, chown, another file at the path). Not ctime: every write to a log would change it.
      const sig = `${seen.dev}:${seen.ino}:${seen.mode}:${seen.uid}:${seen.gid}:${errorCode(err)}`;
      const repeated = this.unopened.get(path) === sig;
      this.unopened.set(path, sig);
      this.events.error(path, err, repeated);
      return;
    }
    this.unopened.delete(path);
    const st = fstatSync(fd);
    const key = `${st.dev}:${st.ino}`;
    if (this.files.has(key)) {
      closeQuietly(fd); // replaced by an already followed file between stat and open
      return;
    }
    const row = this.known.get(key);
    this.known.delete(key);
    let id: string;
    let offset = 0;
    let fp: Fingerprint;
    let resumed = false;
    if (row) {
      const v = verify(fd, row, false);
      fp = v.fp;
      if (v.kind === "same") {
        ({ file_id: id, offset } = row);
        resumed = true;
      } else {
        this.events.replaced(path, row.file_id);
        this.forgotten.push(row.file_id);
        id = newFileId(st, fp, this.now());
      }
    } else {
      fp = fingerprint(fd, st.size);
      id = newFileId(st, fp, this.now());
      offset = startOffset(fd, st.size, initial && this.opts.firstStartFromEnd);
    }
    this.track(path, fd, st, { id, offset, fp, resumed });
  }

  /** Checkpoints no glob matched at the first scan (see locateOrphans): read their rest, or drop them. */
  private adoptOrphans(seen: Set<string>): void {
    const { found, gone } = locateOrphans([...this.known].filter(([k]) => !seen.has(k)).map(([, r]) => r));
    for (const { row, path } of found) {
      let fd: number;
      try {
        fd = openSync(path, "r");
      } catch (err) {
        this.events.error(path, err); // the row stays: a glob may still match the file later
        continue;
      }
      const st = fstatSync(fd);
      const v = st.dev === row.dev && st.ino === row.ino ? verify(fd, row, false) : undefined;
      if (v?.kind !== "same" || this.files.has(`${st.dev}:${st.ino}`)) {
        closeQuietly(fd);
        if (v && v.kind !== "same") gone.push(row);
        continue;
      }
      this.known.delete(`${row.dev}:${row.ino}`);
      const f = this.track(path, fd, st, { id: row.file_id, offset: row.offset, fp: v.fp, resumed: true });
      f.detached = true;
      this.events.detached(path, f.id, false);
    }
    for (const row of gone) {
      this.known.delete(`${row.dev}:${row.ino}`);
      this.forgotten.push(row.file_id);
      this.events.lost(row.path, row.file_id, row.offset);
    }
  }

  private track(
    path: string,
    fd: number,
    st: Stats,
    s: { id: string; offset: number; fp: Fingerprint; resumed: boolean },
  ): TailedFile {
    const { id, offset, fp, resumed } = s;
    const reader = new LineReader(fd, offset, {
      maxLineBytes: this.opts.maxLineBytes,
      ...(this.opts.tailBytes !== undefined ? { tailBytes: this.opts.tailBytes } : {}),
      ...(this.opts.chunkBytes ? { chunkBytes: this.opts.chunkBytes } : {}),
    });
    const f: TailedFile = {
      id,
      dev: st.dev,
      ino: st.ino,
      path,
      fd,
      reader,
      consumer: this.makeConsumer(id, path, offset),
      fp,
      size: st.size,
      detached: false,
      deleted: false,
      lastDataAt: this.now(),
      flushed: false,
      peeked: false,
      // A new file's start is written at the next commit, so a read_from: end start survives a crash.
      committed: resumed ? offset : -1,
    };
    this.files.set(`${st.dev}:${st.ino}`, f);
    this.events.opened(path, id, offset, resumed);
    return f;
  }

  private checkTruncation(f: TailedFile, size?: number): void {
    const v = verify(f.fd, { offset: f.reader.pos, fp_len: f.fp.len, fp_hash: f.fp.hash }, true, size);
    f.fp = v.fp;
    if (v.kind === "same") return;
    // Lines of the old content still pending are given first (an unfinished one can never be
    // completed now); then offsets restart under a new id.
    f.reader.flushPartial(f.consumer.line);
    const old = f.id;
    f.id = newFileId(f, v.fp, this.now());
    f.consumer.restart(f.id);
    f.reader.reset(0);
    f.committed = -1;
    this.forgotten.push(old);
    this.events.truncated(f.path, old);
  }

  /** Read to its end with nothing pending; an unfinished last line counts once it was given (partial). */
  private drained(f: TailedFile): boolean {
    return f.reader.pos >= f.size && !f.reader.waitingPartial && f.consumer.safeOffset() >= f.reader.pos;
  }

  private closeFile(key: string, f: TailedFile): void {
    f.consumer.flush();
    closeQuietly(f.fd);
    this.files.delete(key);
    this.forgotten.push(f.id);
    this.events.closed(f.path, f.id);
  }
}

function errorCode(err: unknown): string {
  return err instanceof Error && "code" in err ? String(err.code) : "";
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}
