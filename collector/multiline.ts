import type { MultilineRule } from "../core/patterns/load.ts";

/** One assembled record: its lines joined with "\n", and where it lies in the source file. */
export interface LogRecord {
  text: string;
  /** The first line alone (the record's header line): what continuations may never override. */
  first: string;
  /** Byte offset of the first line. */
  offset: number;
  /** Byte offset just past the last line consumed (its newline included): a safe checkpoint. */
  endOffset: number;
  /** Lines consumed, kept or not. */
  lines: number;
  /** True when lines or bytes past `maxLines` / `maxBytes` were dropped (the tail lines are kept). */
  truncated: boolean;
}

export interface MultilineLimits {
  maxLines?: number;
  maxBytes?: number;
  /** Lines kept from the end of a record cut at the limits, after a marker line (default 20). */
  tailLines?: number;
  /** Called for each line that would have continued a record but did not look like text. */
  onJunk?: () => void;
}

/** Bytes of the kept tail lines of a cut record, at most (the head keeps `maxBytes`). */
const TAIL_BYTES = 64 * 1024;

/**
 * Joins physical lines into records, one file at a time. A line continues the open record when it
 * matches `continue`; otherwise it starts a new record when `start` is unset or matches; any other
 * line continues. Without either rule every line is a record and is returned at once.
 *
 * A continuation must look like text (see looksLikeText): binary junk after an error line closes
 * the record instead of burying its message. A record past `maxLines` / `maxBytes` keeps its first
 * lines, a marker line, and its last `tailLines` lines: a traceback's final exception (the error)
 * is at its end.
 *
 * There are no timers inside: the caller calls `flush()` when its own clock says the open record
 * has waited `flush_ms` with no new line (a record is only known complete when the next one starts).
 */
export class MultilineAssembler {
  private readonly start: RegExp | undefined;
  private readonly cont: RegExp | undefined;
  private readonly single: boolean;
  private readonly maxLines: number;
  private readonly maxBytes: number;
  private readonly tailLines: number;
  private parts: string[] = [];
  private bytes = 0;
  /** Lines past the limits: the newest `tailLines` of them, and how many older ones were dropped. */
  private ring: string[] = [];
  private ringBytes = 0;
  private dropped = 0;
  private cur: LogRecord | undefined;
  /** The state before the last partial line was pushed, to complete that line (see rejoin). */
  private beforePartial: Snapshot | undefined;
  /** Lines that would have continued a record but did not look like text. */
  junkLines = 0;
  private readonly onJunk: (() => void) | undefined;

  constructor(rule: Pick<MultilineRule, "start" | "continue"> | undefined, limits: MultilineLimits = {}) {
    this.start = rule?.start;
    this.cont = rule?.continue;
    this.single = !this.start && !this.cont;
    this.maxLines = limits.maxLines ?? 500;
    this.maxBytes = limits.maxBytes ?? 1_048_576;
    this.tailLines = limits.tailLines ?? 20;
    this.onJunk = limits.onJunk;
  }

  /** True while a record is open (waiting for its next line or a flush). */
  get pending(): boolean {
    return this.cur !== undefined;
  }

  /** Offset of the record a partial line was given in, while its rest may still complete it. */
  get heldFrom(): number {
    return this.beforePartial ? this.beforePartial.offset : Number.POSITIVE_INFINITY;
  }

  /**
   * Feed one line (without its newline) that starts at byte `offset`; `size` is its length in bytes
   * including the newline, computed when not given. `partial`: the line has no newline yet (its
   * rest may follow, see rejoin). Returns the records this line completed.
   */
  push(line: string, offset: number, size = Buffer.byteLength(line) + 1, partial = false): LogRecord[] {
    if (this.single) {
      const truncated = line.length > this.maxBytes;
      const text = truncated ? line.slice(0, this.maxBytes) : line;
      return [{ text, first: text, offset, endOffset: offset + size, lines: 1, truncated }];
    }
    const cur = this.cur;
    if (cur && this.continues(line)) {
      if (partial) this.beforePartial = this.snapshot();
      cur.lines++;
      cur.endOffset = offset + size;
      if (this.parts.length >= this.maxLines || this.bytes + size > this.maxBytes) this.keepTail(line, size);
      else {
        this.parts.push(line);
        this.bytes += size;
      }
      return [];
    }
    const done = this.flush();
    if (partial) this.beforePartial = { offset, cur: undefined, state: [[], 0, [], 0, 0] };
    this.open(line, offset, size);
    return done;
  }

  /**
   * The line given partial earlier arrived whole: go back to the state before that partial line
   * (the record it continued is open again, or none), so the whole line is pushed where it was.
   * Returns false when there is nothing to go back to (the file restarted, or no partial line).
   */
  rejoin(): boolean {
    const s = this.beforePartial;
    this.beforePartial = undefined;
    if (!s) return false;
    this.reset();
    this.cur = s.cur;
    if (s.cur) [this.parts, this.bytes, this.ring, this.ringBytes, this.dropped] = s.state;
    return true;
  }

  /** Forget a kept partial line (its file restarted or closed: its rest can never come). */
  dropPartial(): void {
    this.beforePartial = undefined;
  }

  /** True when `head`, the beginning of a line not yet finished, already starts a new record. */
  startsRecord(head: string): boolean {
    if (this.single) return true;
    if (this.cont?.test(head)) return false;
    return this.start?.test(head) === true;
  }

  /** Close the open record, if any, and return it. */
  flush(): LogRecord[] {
    const cur = this.cur;
    if (!cur) return [];
    let text = this.parts.length === 1 ? this.parts[0]! : this.parts.join("\n");
    if (cur.truncated && (this.dropped > 0 || this.ring.length > 0)) {
      // A tab keeps a traceback's frame regex (`(?:[ \t][^\n]*\n)+`) running across the cut.
      const marker = this.dropped > 0 ? `\n\t[… ${this.dropped} lines cut …]` : "";
      text += marker + (this.ring.length > 0 ? `\n${this.ring.join("\n")}` : "");
    }
    cur.text = text;
    this.cur = undefined;
    this.reset();
    return [cur];
  }

  /** Forget the parts (an empty ring is kept: most records never have one). */
  private reset(): void {
    this.parts = [];
    this.bytes = 0;
    if (this.ring.length > 0) this.ring = [];
    this.ringBytes = 0;
    this.dropped = 0;
  }

  private continues(line: string): boolean {
    if (this.cont?.test(line) !== true && (this.start === undefined || this.start.test(line))) return false;
    if (looksLikeText(line)) return true;
    this.junkLines++;
    this.onJunk?.();
    return false;
  }

  private keepTail(line: string, size: number): void {
    const cur = this.cur!;
    cur.truncated = true;
    if (this.tailLines === 0) {
      this.dropped++;
      return;
    }
    this.ring.push(line);
    this.ringBytes += size;
    while (this.ring.length > this.tailLines || (this.ringBytes > TAIL_BYTES && this.ring.length > 1)) {
      this.ringBytes -= Buffer.byteLength(this.ring.shift()!) + 1;
      this.dropped++;
    }
  }

  private open(line: string, offset: number, size: number): void {
    const truncated = size > this.maxBytes;
    const kept = truncated ? line.slice(0, this.maxBytes) : line;
    // flush() has reset everything but what a kept tail may need.
    if (this.ring.length > 0 || this.dropped > 0) this.reset();
    this.parts = [kept];
    this.bytes = Math.min(size, this.maxBytes);
    this.cur = { text: "", first: kept, offset, endOffset: offset + size, lines: 1, truncated };
  }

  private snapshot(): Snapshot {
    const cur = this.cur!;
    return {
      offset: cur.offset,
      cur: { ...cur },
      state: [this.parts.slice(), this.bytes, this.ring.slice(), this.ringBytes, this.dropped],
    };
  }
}

interface Snapshot {
  /** Start of the record the partial line belongs to (where the checkpoint must stay). */
  offset: number;
  cur: LogRecord | undefined;
  /** parts, bytes, ring, ringBytes, dropped */
  state: [string[], number, string[], number, number];
}

const NOT_TEXT = /[\u0000-\u0008\u000b-\u001a\u001c-\u001f\u007f\ufffd]/g;

/**
 * Whether a line reads as text: no NUL, and at most one in ten characters a control character
 * (tab and ESC, for ANSI colours, allowed) or U+FFFD (what invalid UTF-8 decodes to). Random
 * bytes fail it: about one byte in eight is a control byte and most high bytes are invalid UTF-8.
 */
export function looksLikeText(line: string): boolean {
  if (line.indexOf("\u0000") !== -1) return false;
  const bad = line.match(NOT_TEXT)?.length ?? 0;
  return bad * 10 <= line.length && !(bad > 0 && line.length < 4);
}
