import type { MultilineRule } from "../core/patterns/load.ts";

/** One assembled record: its lines joined with "\n", and where it lies in the source file. */
export interface LogRecord {
  text: string;
  /** Byte offset of the first line. */
  offset: number;
  /** Byte offset just past the last line consumed (its newline included): a safe checkpoint. */
  endOffset: number;
  /** Lines consumed, kept or not. */
  lines: number;
  /** True when lines or bytes past `maxLines` / `maxBytes` were dropped. */
  truncated: boolean;
}

export interface MultilineLimits {
  maxLines?: number;
  maxBytes?: number;
}

/**
 * Joins physical lines into records, one file at a time. A line continues the open record when it
 * matches `continue`; otherwise it starts a new record when `start` is unset or matches; any other
 * line continues. Without either rule every line is a record and is returned at once.
 *
 * There are no timers inside: the caller calls `flush()` when its own clock says the open record
 * has waited `flush_ms` with no new line (a record is only known complete when the next one starts).
 * Past the limits, lines are still consumed (so offsets stay right) but not kept.
 */
export class MultilineAssembler {
  private readonly start: RegExp | undefined;
  private readonly cont: RegExp | undefined;
  private readonly single: boolean;
  private readonly maxLines: number;
  private readonly maxBytes: number;
  private parts: string[] = [];
  private bytes = 0;
  private cur: LogRecord | undefined;

  constructor(rule: Pick<MultilineRule, "start" | "continue"> | undefined, limits: MultilineLimits = {}) {
    this.start = rule?.start;
    this.cont = rule?.continue;
    this.single = !this.start && !this.cont;
    this.maxLines = limits.maxLines ?? 500;
    this.maxBytes = limits.maxBytes ?? 1_048_576;
  }

  /** True while a record is open (waiting for its next line or a flush). */
  get pending(): boolean {
    return this.cur !== undefined;
  }

  /**
   * Feed one line (without its newline) that starts at byte `offset`; `size` is its length in bytes
   * including the newline, computed when not given. Returns the records this line completed.
   */
  push(line: string, offset: number, size = Buffer.byteLength(line) + 1): LogRecord[] {
    if (this.single) {
      const truncated = line.length > this.maxBytes;
      const text = truncated ? line.slice(0, this.maxBytes) : line;
      return [{ text, offset, endOffset: offset + size, lines: 1, truncated }];
    }
    const cur = this.cur;
    if (cur && this.continues(line)) {
      cur.lines++;
      cur.endOffset = offset + size;
      if (this.parts.length >= this.maxLines || this.bytes + size > this.maxBytes) cur.truncated = true;
      else {
        this.parts.push(line);
        this.bytes += size;
      }
      return [];
    }
    const done = this.flush();
    this.open(line, offset, size);
    return done;
  }

  /** Close the open record, if any, and return it. */
  flush(): LogRecord[] {
    const cur = this.cur;
    if (!cur) return [];
    cur.text = this.parts.length === 1 ? this.parts[0]! : this.parts.join("\n");
    this.cur = undefined;
    this.parts = [];
    this.bytes = 0;
    return [cur];
  }

  private continues(line: string): boolean {
    if (this.cont?.test(line)) return true;
    return this.start !== undefined && !this.start.test(line);
  }

  private open(line: string, offset: number, size: number): void {
    const truncated = size > this.maxBytes;
    const kept = truncated ? line.slice(0, this.maxBytes) : line;
    this.parts = [kept];
    this.bytes = Math.min(size, this.maxBytes);
    this.cur = { text: "", offset, endOffset: offset + size, lines: 1, truncated };
  }
}
