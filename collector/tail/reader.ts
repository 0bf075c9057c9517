import { isAscii } from "node:buffer";
import { readSync } from "node:fs";

/** The line was longer than `maxLineBytes`: only its head is given (and its tail, see LineSink). */
export const LINE_CUT = 1;
/** The line had no newline yet when the flush timeout gave it: its rest may still come. */
export const LINE_PARTIAL = 2;
/** The whole line whose head was given earlier with LINE_PARTIAL (same offset, now complete). */
export const LINE_REJOINED = 4;

/**
 * Receives one physical line (without its newline; a trailing "\r" removed). `offset` is the byte
 * offset of its first byte in the file and `size` its length in bytes including the newline, so
 * `offset + size` is where the next line starts. `flags` holds LINE_CUT, LINE_PARTIAL, LINE_REJOINED.
 * A cut line also gets `tail`: its last bytes (up to `tailBytes`), where an error may lie.
 */
export type LineSink = (line: string, offset: number, size: number, flags: number, tail?: string) => void;

export interface ReaderOptions {
  /**
   * Bytes per read() (default 64 KiB). Each chunk becomes one string that lives until the next
   * garbage collection: on the 2M-line bench, 1 MiB chunks peaked 12 MB higher in RSS than 64 KiB
   * ones (103-106 MB against 91-95) at the same throughput; below 32 KiB the per-chunk cost shows.
   */
  chunkBytes?: number;
  /** Longer lines are cut to this many bytes and flagged; the rest is skipped up to its newline. */
  maxLineBytes?: number;
  /** Of a cut line, this many bytes of its end are kept too (default 4096; 0 = none). */
  tailBytes?: number;
}

/**
 * Splits a file into lines from a byte offset, reading through an open descriptor (so a file that
 * was renamed or deleted is still drained to its end).
 *
 * Speed: a chunk is decoded once as latin1 (one byte = one char, so string indexes are byte
 * offsets) and split with indexOf("\n"). Only a line that holds non-ASCII bytes is decoded again as
 * UTF-8, and only when the chunk is not all ASCII (checked by `isAscii`, a SIMD scan), so invalid
 * UTF-8 becomes U+FFFD in that line and breaks nothing else. NUL bytes are ordinary characters.
 *
 * A line without its newline (the writer has not finished it) stays in the buffer: it is given
 * when its newline arrives. When the caller's wait for it runs out, `flushPartial()` gives what is
 * there flagged LINE_PARTIAL but KEEPS it: when the newline comes, the whole line is given again
 * flagged LINE_REJOINED. Block-buffered writers (Python, Java, piped stdout) split lines at their
 * buffer boundaries, and the halves apart match nothing. `lineStart` stays at such a line's start,
 * so a checkpoint never passes a line that was only given in part.
 */
export class LineReader {
  /** File offset of the next byte to read. */
  pos: number;
  private readonly buf: Buffer;
  private readonly chunkBytes: number;
  private readonly maxLine: number;
  /** Bytes of an unfinished line kept at the start of `buf`; they start at `pos - carry`. */
  private carry = 0;
  /** Inside an over-long line: its head was kept in `buf`, the rest is skipped up to "\n". */
  private skipping = false;
  private skipStart = 0;
  /** The unfinished line at buf[0] was given by flushPartial: its completion is LINE_REJOINED. */
  private given = false;
  /** The last bytes of the over-long line being skipped (a window, filled circularly in order). */
  private readonly tail: Buffer;
  private tailLen = 0;

  constructor(
    private fd: number,
    pos: number,
    opts: ReaderOptions = {},
  ) {
    this.pos = pos;
    this.chunkBytes = opts.chunkBytes ?? 64 << 10;
    this.maxLine = opts.maxLineBytes ?? 65536;
    // Room for a kept line head plus a full chunk after it.
    this.buf = Buffer.allocUnsafe(this.chunkBytes + this.maxLine);
    this.tail = Buffer.allocUnsafe(Math.min(opts.tailBytes ?? 4096, this.maxLine));
  }

  /** Offset of the first byte not yet given as a whole line: a checkpoint may never pass it. */
  get lineStart(): number {
    return this.skipping ? this.skipStart : this.pos - this.carry;
  }

  /** True while an unfinished line waits for its newline. */
  get hasPartial(): boolean {
    return this.carry > 0 || this.skipping;
  }

  /** True while an unfinished line waits that flushPartial has not given yet. */
  get waitingPartial(): boolean {
    return this.hasPartial && !this.given;
  }

  /** What the unfinished line holds so far ("" when there is none). */
  peekPartial(): string {
    return this.hasPartial ? stripCr(this.decode(this.buf.subarray(0, this.carry))) : "";
  }

  /** Start again at `pos` (after a truncation), forgetting any unfinished line. */
  reset(pos: number, fd = this.fd): void {
    this.fd = fd;
    this.pos = pos;
    this.carry = 0;
    this.skipping = false;
    this.given = false;
    this.tailLen = 0;
  }

  /** Read one chunk and give its complete lines to `sink`. Returns the bytes read (0 at end of file). */
  readChunk(sink: LineSink): number {
    // buf[0, carry) holds the unfinished line (or the kept head of an over-long one); new bytes go after it.
    const n = readSync(this.fd, this.buf, this.carry, this.chunkBytes, this.pos);
    if (n <= 0) return 0;
    this.pos += n;
    let end = this.carry + n;
    let rejoined = this.given ? LINE_REJOINED : 0;
    if (this.skipping) {
      const nl = this.buf.subarray(this.carry, end).indexOf(10);
      if (nl === -1) {
        // Still inside the long line: drop what was read, keep its head and its last bytes.
        this.keepTail(this.carry, end);
        return n;
      }
      this.keepTail(this.carry, this.carry + nl);
      const after = this.carry + nl + 1;
      const nextStart = this.pos - (end - after);
      sink(
        stripCr(this.decode(this.buf.subarray(0, this.carry))),
        this.skipStart,
        nextStart - this.skipStart,
        LINE_CUT | rejoined,
        this.takeTail(),
      );
      this.skipping = false;
      this.given = false;
      rejoined = 0;
      this.buf.copy(this.buf, 0, after, end);
      end -= after;
    }
    // buf[0, end) starts at file offset `base`; latin1 makes string indexes equal byte indexes.
    const base = this.pos - end;
    const ascii = isAscii(this.buf.subarray(0, end));
    const s = this.buf.toString("latin1", 0, end);
    let from = 0;
    let nl = s.indexOf("\n");
    while (nl !== -1) {
      this.emit(sink, s, from, nl, base, ascii, rejoined);
      rejoined = 0;
      from = nl + 1;
      nl = s.indexOf("\n", from);
    }
    if (from > 0) this.given = false;
    const rest = end - from;
    if (rest > this.maxLine) {
      // Keep only the head and the last bytes; the rest of the line is skipped until its newline.
      this.tailLen = 0;
      this.keepTail(from + this.maxLine, end);
      this.buf.copy(this.buf, 0, from, from + this.maxLine);
      this.carry = this.maxLine;
      this.skipping = true;
      this.skipStart = base + from;
    } else {
      if (rest > 0 && from > 0) this.buf.copy(this.buf, 0, from, end);
      this.carry = rest;
    }
    return n;
  }

  /**
   * Give the unfinished line, flagged LINE_PARTIAL (the wait for its newline ran out), and keep it
   * to give it whole, flagged LINE_REJOINED, when its newline comes. Once per unfinished line.
   * Returns whether it gave one.
   */
  flushPartial(sink: LineSink): boolean {
    if (!this.waitingPartial) return false;
    const start = this.lineStart;
    const text = this.decode(this.buf.subarray(0, this.carry));
    const flags = LINE_PARTIAL | (this.skipping ? LINE_CUT : 0);
    sink(stripCr(text), start, this.pos - start, flags, this.skipping ? this.peekTail() : undefined);
    this.given = true;
    return true;
  }

  private emit(
    sink: LineSink,
    s: string,
    from: number,
    nl: number,
    base: number,
    ascii: boolean,
    flags: number,
  ): void {
    let len = nl - from;
    const cut = len > this.maxLine;
    if (cut) len = this.maxLine;
    let line = s.slice(from, from + len);
    if (!ascii && !isAscii(this.buf.subarray(from, from + len)))
      line = this.buf.toString("utf8", from, from + len);
    if (line.charCodeAt(line.length - 1) === 13) line = line.slice(0, -1);
    if (!cut) {
      sink(line, base + from, nl - from + 1, flags);
      return;
    }
    this.tailLen = 0;
    this.keepTail(from + this.maxLine, nl);
    sink(line, base + from, nl - from + 1, flags | LINE_CUT, this.takeTail());
  }

  /** Slide buf[from, to) (bytes of the line being cut) into the tail window. */
  private keepTail(from: number, to: number): void {
    const cap = this.tail.length;
    if (cap === 0 || to <= from) return;
    if (to - from >= cap) {
      this.buf.copy(this.tail, 0, to - cap, to);
      this.tailLen = cap;
      return;
    }
    const keep = Math.min(this.tailLen, cap - (to - from));
    this.tail.copy(this.tail, 0, this.tailLen - keep, this.tailLen);
    this.buf.copy(this.tail, keep, from, to);
    this.tailLen = keep + (to - from);
  }

  private peekTail(): string {
    return stripCr(this.tail.toString("utf8", 0, this.tailLen));
  }

  private takeTail(): string {
    const t = this.peekTail();
    this.tailLen = 0;
    return t;
  }

  private decode(bytes: Buffer): string {
    return isAscii(bytes) ? bytes.toString("latin1") : bytes.toString("utf8");
  }
}

function stripCr(s: string): string {
  return s.charCodeAt(s.length - 1) === 13 ? s.slice(0, -1) : s;
}
