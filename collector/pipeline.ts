import type { MultilineRule } from "../core/patterns/load.ts";
import type { ErrorEvent } from "../core/schemas/error-event.ts";
import { type Chosen, chooseMatch } from "./choose.ts";
import { EventBuilder } from "./events.ts";
import { FloodControl, type FoldTarget, floodTemplate } from "./flood.ts";
import { DistinctTargets, targetFields } from "./fold-targets.ts";
import type { Match } from "./match.ts";
import { type LogRecord, MultilineAssembler } from "./multiline.ts";
import { LINE_CUT, LINE_PARTIAL, LINE_REJOINED } from "./tail/reader.ts";
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
  /** collector/match.ts's `Matcher.mentions` (default: never). */
  mentions?: (service: string, text: string) => boolean;
  redact: RedactFn;
  multiline: MultilineRule | undefined;
  /** Bytes of one multiline record and lines kept from the end of a cut one. */
  multilineLimits?: { maxBytes?: number; tailLines?: number };
  floodPerSecond: number;
  /** Distinct targets one fold keeps (default 1000). */
  floodMaxDistinct?: number;
  now: () => number;
  counters: PipelineCounters;
}

export function newCounters() {
  return {
    lines: 0,
    records: 0,
    matched: 0,
    events: 0,
    folded: 0,
    /** Physical lines cut at max_line_bytes. */
    truncated_lines: 0,
    /** Multiline records cut at their line or byte bound (head and tail kept). */
    truncated_records: 0,
    /** Cut lines that matched nothing on their head, shipped because their end mentions an error. */
    cut_shipped: 0,
    /** Unfinished last lines given after the wait for their newline ran out, and those completed later. */
    partial_lines: 0,
    rejoined_lines: 0,
    /** Lines that did not look like text and so did not continue a record. */
    junk_lines: 0,
    /** Records whose continuation lines were set beside the message (they would have changed its match). */
    continuations_detached: 0,
    redactions: 0,
  };
}
export type PipelineCounters = ReturnType<typeof newCounters>;

/** A spooled event: its stable id and the JSON the broker entry carries (`encode("error", event)`'s data). */
export interface SpoolEvent {
  event_id: string;
  data: string;
}

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
  private readonly build: EventBuilder;
  /** Lines the reader cut (multiline only: folded into their record's flag), with their tails. */
  private cuts: Array<{ offset: number; tail: string | undefined }> = [];
  /** Offset of a line given partial whose record is not emitted yet (multiline). */
  private partialAt = -1;
  /** Offset of a line that completed one given partial earlier, until its record is emitted. */
  private rejoinedAt = -1;
  private readonly distinct = new Map<FoldTarget<ErrorEvent>, DistinctTargets>();
  private readonly fieldsOf = new Map<string, string[]>();
  readonly line: (text: string, offset: number, size: number, flags: number, tail?: string) => void;

  constructor(
    private readonly ctx: PipelineContext,
    fileId: string,
    path: string,
    offset: number,
  ) {
    this.lastEnd = offset;
    this.flood = new FloodControl(ctx.floodPerSecond);
    this.build = new EventBuilder(ctx, fileId, path);
    const rule = ctx.multiline;
    const c = ctx.counters;
    if (rule && (rule.start || rule.continue)) {
      const asm = new MultilineAssembler(rule, {
        maxLines: rule.maxLines,
        ...ctx.multilineLimits,
        onJunk: () => c.junk_lines++,
      });
      this.asm = asm;
      this.line = (text, off, size, flags, tail) => {
        if (flags !== 0) this.flagged(off, flags, tail);
        else c.lines++;
        if (flags & LINE_REJOINED) asm.rejoin();
        const done = asm.push(text, off, size, (flags & LINE_PARTIAL) !== 0);
        for (let i = 0; i < done.length; i++) this.record(done[i]!);
      };
    } else {
      // Single-line services skip the assembler: one line is one record.
      const service = ctx.service;
      const match = ctx.match;
      this.line = (text, off, size, flags, tail) => {
        c.records++;
        if (flags !== 0) this.flagged(off, flags, tail);
        else c.lines++;
        const m = match(service, text);
        if (m !== null) this.matched({ m, text }, off, flags, flags & LINE_PARTIAL ? off : -1);
        else if (tail !== undefined) {
          const ch = chooseMatch(match, this.mentions, service, { text, first: text, lines: 1 }, [tail]);
          if (ch) this.matched(ch, off, flags, flags & LINE_PARTIAL ? off : -1);
        }
        this.lastEnd = off + size;
      };
    }
  }

  flush(): void {
    if (this.asm) for (const r of this.asm.flush()) this.record(r);
  }

  flushBefore(head: string): void {
    if (this.asm?.pending && this.asm.startsRecord(head)) this.flush();
  }

  /** Close flood windows older than a second (all of them with `all`), turning folds into events. */
  expire(now: number, all = false): void {
    this.flood.expire(now, (f) => this.emitFold(f), all);
  }

  moved(path: string): void {
    this.build.path = path;
  }

  safeOffset(): number {
    return Math.min(this.lastEnd, this.flood.oldestOpen());
  }

  heldFrom(): number {
    return this.asm ? this.asm.heldFrom : Number.POSITIVE_INFINITY;
  }

  restart(id: string): void {
    this.flush();
    this.expire(this.ctx.now(), true);
    this.asm?.dropPartial();
    this.build.fileId = id;
    this.lastEnd = 0;
    this.cuts = [];
    this.partialAt = -1;
    this.rejoinedAt = -1;
  }

  /** Hand over the events produced since the last call (to be committed with the checkpoints). */
  take(): SpoolEvent[] {
    const out = this.events;
    this.events = [];
    return out;
  }

  private readonly mentions = (service: string, text: string) => this.ctx.mentions?.(service, text) ?? false;

  /** Count a cut, partial or rejoined line, and note what its record needs to know. */
  private flagged(off: number, flags: number, tail: string | undefined): void {
    const c = this.ctx.counters;
    // A rejoined line was counted when its first part was given.
    if (flags & LINE_REJOINED) c.rejoined_lines++;
    else c.lines++;
    if (flags & LINE_PARTIAL) {
      c.partial_lines++;
      this.partialAt = off;
    }
    if (flags & LINE_REJOINED) this.rejoinedAt = off;
    if (flags & LINE_CUT) {
      c.truncated_lines++;
      if (this.asm) this.cuts.push({ offset: off, tail });
    }
  }

  private record(r: LogRecord): void {
    const c = this.ctx.counters;
    c.records++;
    this.lastEnd = r.endOffset;
    let flags = r.truncated ? LINE_CUT : 0;
    if (r.truncated) c.truncated_records++;
    let tails: string[] | undefined;
    if (this.cuts.length > 0) {
      // A physical line of this record was cut by the reader.
      for (const cut of this.cuts) {
        if (cut.offset < r.offset || cut.offset >= r.endOffset) continue;
        flags |= LINE_CUT;
        if (cut.tail === undefined) continue;
        tails ??= [];
        tails.push(cut.tail);
      }
      this.cuts = this.cuts.filter((o) => o.offset >= r.endOffset);
    }
    if (this.rejoinedAt >= r.offset && this.rejoinedAt < r.endOffset) {
      flags |= LINE_REJOINED;
      this.rejoinedAt = -1;
    }
    let partial = -1;
    if (this.partialAt >= r.offset && this.partialAt < r.endOffset) {
      partial = r.offset;
      this.partialAt = -1;
    }
    if (r.lines === 1 && tails === undefined) {
      // The hot path (most records are one line that matches nothing): one match() call.
      const m = this.ctx.match(this.ctx.service, r.text);
      if (m !== null) this.matched({ m, text: r.text }, r.offset, flags, partial);
      return;
    }
    const ch = chooseMatch(this.ctx.match, this.mentions, this.ctx.service, r, tails);
    if (ch !== null) this.matched(ch, r.offset, flags, partial);
  }

  /** `partial` is the record's offset when it ends in a line given partial, else -1. */
  private matched(ch: Chosen, offset: number, flags: number, partial: number): void {
    const c = this.ctx.counters;
    c.matched++;
    if (ch.continuation !== undefined) c.continuations_detached++;
    if (ch.cut) c.cut_shipped++;
    const now = this.ctx.now();
    const cut = (flags & LINE_CUT) !== 0;
    const supersedes = (flags & LINE_REJOINED) !== 0;
    if (partial !== -1) {
      // Not folded: its completion (the rejoined record) is the event that counts.
      this.push(this.build.event(ch, offset, cut, now, true));
      return;
    }
    const m = ch.m;
    const key = `${m.pattern.id}\u0000${floodTemplate(m.message)}`;
    const fields = this.targetFieldsOf(m);
    const verdict = this.flood.admit(
      key,
      offset,
      now,
      () => this.build.event(ch, offset, cut, now, false, supersedes),
      (f) => this.emitFold(f),
      fields.length === 0 ? undefined : (f) => this.noteTarget(f, fields, ch, offset),
    );
    if (verdict === "pass") this.push(this.build.event(ch, offset, cut, now, false, supersedes));
    else c.folded++;
  }

  private targetFieldsOf(m: Match): string[] {
    let f = this.fieldsOf.get(m.pattern.id);
    if (!f) {
      f = targetFields(m.pattern);
      this.fieldsOf.set(m.pattern.id, f);
    }
    return f;
  }

  private noteTarget(f: FoldTarget<ErrorEvent>, fields: string[], ch: Chosen, offset: number): void {
    let d = this.distinct.get(f);
    if (!d) {
      d = new DistinctTargets(fields, this.ctx.floodMaxDistinct ?? 1000);
      this.distinct.set(f, d);
    }
    d.add(ch.m.fields, offset, () => this.build.message(ch.text));
  }

  private emitFold(f: FoldTarget<ErrorEvent>): void {
    const d = this.distinct.get(f);
    this.distinct.delete(f);
    this.push(this.build.fold(f, d?.toJSON()));
  }

  private push(ev: ErrorEvent): void {
    this.ctx.counters.events++;
    this.events.push({ event_id: ev.event_id, data: JSON.stringify(ev) });
  }
}
