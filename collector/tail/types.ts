import type { LineReader, LineSink } from "./reader.ts";
import type { Fingerprint } from "./rotation.ts";

/** What the tailer feeds: one per followed file (the pipeline's per-file processor). */
export interface FileConsumer {
  line: LineSink;
  /** The flush timeout expired with no new data: close any open (multiline) record. */
  flush(): void;
  /**
   * The flush timeout expired while an unfinished line waits for its newline; `head` is what it
   * holds so far. Close the open record if `head` already shows that the line starts a new one.
   */
  flushBefore(head: string): void;
  /** Lowest offset something is still pending at (open record, open fold); the checkpoint stays below it. */
  safeOffset(): number;
  /**
   * Start of a record that was given with a partial last line, kept so that the line's rest can
   * complete it (Infinity when none): the checkpoint stays below it, the file may still close.
   */
  heldFrom(): number;
  /** The file's offsets restart (copytruncate): close what is pending, then continue as `id` from 0. */
  restart(id: string): void;
  /** The file was found at another path (renamed within the globs): report that one from now on. */
  moved(path: string): void;
}

/** Telemetry hooks: the host logs and counts (the tailer imports no metrics). */
export interface TailEvents {
  opened(path: string, id: string, offset: number, resumed: boolean): void;
  truncated(path: string, id: string): void;
  replaced(path: string, oldId: string): void;
  detached(path: string, id: string, deleted: boolean): void;
  closed(path: string, id: string): void;
  /**
   * The file of a checkpoint is gone (or holds other content): what it held past `offset` was never
   * read and cannot be any more (its size is not known). The checkpoint is dropped.
   */
  lost(path: string, id: string, offset: number): void;
  /**
   * A file could not be read or opened. `repeated`: the same file (same inode, owner and mode)
   * failed the same way at the previous scan, so the host counts it without logging it again.
   */
  error(path: string, err: unknown, repeated?: boolean): void;
}

export interface TailOptions {
  globs: string[];
  maxLineBytes: number;
  chunkBytes?: number;
  /** Open records are closed after this long without new data. */
  flushMs: number;
  /** An unfinished last line waits this long for its newline before it is given partial (≥ flushMs). */
  partialWaitMs?: number;
  /** Bytes kept from the end of a line cut at maxLineBytes (LineReader's tailBytes). */
  tailBytes?: number;
  /** A rotated or deleted file stays open this long after its last data (late writes are read). */
  rotateWaitMs?: number;
  /** Files seen in the first scan of the first start begin at their end (read_from: end). */
  firstStartFromEnd: boolean;
  now?: () => number;
}

export interface TailedFile {
  id: string;
  dev: number;
  ino: number;
  path: string;
  fd: number;
  reader: LineReader;
  consumer: FileConsumer;
  fp: Fingerprint;
  size: number;
  /** No matching path leads to this inode any more (renamed away or deleted). */
  detached: boolean;
  deleted: boolean;
  lastDataAt: number;
  /** Flushed by `flushIdle` since its last data (so an idle file is not stat'ed at every step). */
  flushed: boolean;
  /** `flushBefore` was called for the unfinished line of this idle period. */
  peeked: boolean;
  /** Offset last written to the checkpoint table; -1 = never written. */
  committed: number;
}
