import { stableId } from "../core/ids.ts";
import type { MultilineRule } from "../core/patterns/load.ts";
import type { ErrorEvent } from "../core/schemas/error-event.ts";
import { FloodControl, type FoldTarget, floodTemplate } from "./flood.ts";
import type { Match } from "./match.ts";
import { type LogRecord, MultilineAssembler } from "./multiline.ts";
import type { FileConsumer } from "./tail/tailer.ts";

/** Redaction as the pipeline uses it (core/redact's `redact`). */
export type RedactFn = (text: string) => { text: string; count: number };
/** Pattern matching as the pipeline uses it (collector/match.ts's `Matcher.match`). */
export type MatchFn = (service: string, record: string) => Match | null;

/** Per-client settings and counters shared by the processors of all its files. */
export interface PipelineContext {
  clientId: string;
  host: string;
  service: string;
  match: MatchFn;
  redact: RedactFn;
  multiline: MultilineRule | undefined;
  floodPerSecond: number;
  now: () => number;
  counters: PipelineCounters;
}

export interface PipelineCounters {
  lines: number;
  records: number;
  matched: number;
  events: number;
  folded: number;
  truncated_lines: number;
  redactions: number;
}

export function newCounters(): PipelineCounters {
  return { lines: 0, records: 0, matched: 0, events: 0, folded: 0, truncated_lines: 0, redactions: 0 };
}

/** A spooled event: its stable id and the JSON the broker entry carries (`encode("error", event)`'s data). */
export interface SpoolEvent {
  event_id: string;
  data: string;
}

/** The schema allows 1 MiB of message; a record is cut a little below so the JSON stays in bounds. */
const MAX_MESSAGE = 1_000_000;

/**
 * The per-file part of the hot path: lines → multiline records → match → redact → flood control →
 * events ready for the spool. Lines that match nothing cost one `match()` call (a prefilter
 * `test()`) and nothing else: no decoding, no allocation beyond the line itself.
 *
 * `safeOffset()` is where the checkpoint may go: records are contiguous, so everything before the
 * end of the last completed record has been turned into events (held in `events` until the next
 * commit) or dropped as non-matching; an open multiline record and an open flood fold hold it back.
 */
export class FileProcessor implements FileConsumer {
  events: SpoolEvent[] = [];
  private lastEnd: number;
  private readonly asm: MultilineAssembler | undefined;
  private readonly flood: FloodControl<ErrorEvent>;
  /** Offsets of physical lines the reader cut (multiline only: folded into their record's flag). */
  private cuts: number[] = [];
  readonly line: (text: string, offset: number, size: number, truncated: boolean) => void;

  constructor(
    private readonly ctx: PipelineContext,
    private fileId: string,
    private path: string,
    offset: number,
  ) {
    this.lastEnd = offset;
    this.flood = new FloodControl(ctx.floodPerSecond);
    const rule = ctx.multiline;
    if (rule && (rule.start || rule.continue)) {
      const asm = new MultilineAssembler(rule, { maxLines: rule.maxLines });
      this.asm = asm;
      this.line = (text, off, size, truncated) => {
        ctx.counters.lines++;
        if (truncated) {
          ctx.counters.truncated_lines++;
          this.cuts.push(off);
        }
        const done = asm.push(text, off, size);
        for (let i = 0; i < done.length; i++) this.record(done[i]!);
      };
    } else {
      // Single-line services skip the assembler: one line is one record.
      const service = ctx.service;
      const match = ctx.match;
      this.line = (text, off, size, truncated) => {
        const c = ctx.counters;
        c.lines++;
        c.records++;
        if (truncated) c.truncated_lines++;
        const m = match(service, text);
        if (m !== null) this.matched(text, off, truncated, m);
        this.lastEnd = off + size;
      };
    }
  }

  flush(): void {
    if (this.asm) for (const r of this.asm.flush()) this.record(r);
  }

  /** Close flood windows older than a second (all of them with `all`), turning folds into events. */
  expire(now: number, all = false): void {
    this.flood.expire(now, (f) => this.emitFold(f), all);
  }

  moved(path: string): void {
    this.path = path;
  }

  safeOffset(): number {
    return Math.min(this.lastEnd, this.flood.oldestOpen());
  }

  restart(id: string): void {
    this.flush();
    this.expire(this.ctx.now(), true);
    this.fileId = id;
    this.lastEnd = 0;
    this.cuts = [];
  }

  /** Hand over the events produced since the last call (to be committed with the checkpoints). */
  take(): SpoolEvent[] {
    const out = this.events;
    this.events = [];
    return out;
  }

  private record(r: LogRecord): void {
    const c = this.ctx.counters;
    c.records++;
    this.lastEnd = r.endOffset;
    let truncated = r.truncated;
    if (this.cuts.length > 0) {
      // A physical line of this record was cut by the reader.
      if (this.cuts.some((o) => o >= r.offset && o < r.endOffset)) truncated = true;
      this.cuts = this.cuts.filter((o) => o >= r.endOffset);
    }
    const m = this.ctx.match(this.ctx.service, r.text);
    if (m !== null) this.matched(r.text, r.offset, truncated, m);
  }

  private matched(text: string, offset: number, truncated: boolean, m: Match): void {
    const c = this.ctx.counters;
    c.matched++;
    const now = this.ctx.now();
    const key = `${m.pattern.id}\u0000${floodTemplate(m.message)}`;
    const verdict = this.flood.admit(
      key,
      offset,
      now,
      () => this.build(text, offset, truncated, m, now),
      (f) => this.emitFold(f),
    );
    if (verdict === "pass") this.push(this.build(text, offset, truncated, m, now));
    else c.folded++;
  }

  /** The event for one record, redacted before it is stored anywhere. */
  private build(text: string, offset: number, truncated: boolean, m: Match, now: number): ErrorEvent {
    const ctx = this.ctx;
    const red = ctx.redact(text.length > MAX_MESSAGE ? text.slice(0, MAX_MESSAGE) : text);
    let redactions = red.count;
    const fields: Record<string, string> = {};
    for (const k in m.fields) {
      const r = ctx.redact(m.fields[k]!);
      redactions += r.count;
      fields[k] = r.text;
    }
    ctx.counters.redactions += redactions;
    const ev: ErrorEvent = {
      v: 1,
      event_id: stableId(ctx.clientId, this.fileId, offset),
      client_id: ctx.clientId,
      host: ctx.host,
      service: ctx.service,
      source: { path: this.path, file_id: this.fileId, offset },
      time: new Date(now).toISOString(),
      pattern_id: m.pattern.id,
      severity: m.pattern.severity,
      category: m.pattern.category,
      message: red.text,
      fields,
      count: 1,
    };
    if (truncated || text.length > MAX_MESSAGE) ev.truncated = true;
    if (redactions > 0) ev.redactions = redactions;
    return ev;
  }

  private emitFold(f: FoldTarget<ErrorEvent>): void {
    const ev = f.event;
    // A fold has an id of its own: after a crash the same lines may be re-read and folded
    // differently, and must not be mistaken for a copy of the first record's own event.
    ev.event_id = stableId(this.ctx.clientId, ev.source?.file_id ?? this.fileId, f.first, "fold");
    ev.count = f.count;
    if (ev.source) ev.source.last_offset = f.last;
    this.push(ev);
  }

  private push(ev: ErrorEvent): void {
    this.ctx.counters.events++;
    this.events.push({ event_id: ev.event_id, data: JSON.stringify(ev) });
  }
}
