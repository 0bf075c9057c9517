import { stableId } from "../core/ids.ts";
import type { ErrorEvent } from "../core/schemas/error-event.ts";
import type { Chosen } from "./choose.ts";
import type { FoldTarget } from "./flood.ts";
import type { FoldDistinct } from "./fold-targets.ts";
import type { PipelineContext } from "./pipeline.ts";

/** The schema allows 1 MiB of message; a record is cut a little below so the JSON stays in bounds. */
const MAX_MESSAGE = 1_000_000;
/** Continuation lines kept beside a message. */
const MAX_CONTINUATION = 64 * 1024;

/** Builds one file's events, redacted before they are stored anywhere. */
export class EventBuilder {
  constructor(
    private readonly ctx: PipelineContext,
    public fileId: string,
    public path: string,
  ) {}

  /** The redacted message of a record as an event carries it (cut below the schema's bound). */
  message(text: string): string {
    const red = this.ctx.redact(text.length > MAX_MESSAGE ? text.slice(0, MAX_MESSAGE) : text);
    this.ctx.counters.redactions += red.count;
    return red.text;
  }

  /**
   * The event of one record. A `partial` one (its last line was given before its newline came) has
   * an id of its own: the whole record, if its rest arrives, is the event with the offset's id.
   */
  event(
    ch: Chosen,
    offset: number,
    cut: boolean,
    now: number,
    partial: boolean,
    supersedes = false,
  ): ErrorEvent {
    const { ctx } = this;
    const { m, text } = ch;
    const red = ctx.redact(text.length > MAX_MESSAGE ? text.slice(0, MAX_MESSAGE) : text);
    let redactions = red.count;
    const fields: Record<string, string> = {};
    for (const k in m.fields) {
      const r = ctx.redact(m.fields[k]!);
      redactions += r.count;
      fields[k] = r.text;
    }
    const ev: ErrorEvent = {
      v: 1,
      event_id: partial
        ? stableId(ctx.clientId, this.fileId, offset, "partial")
        : stableId(ctx.clientId, this.fileId, offset),
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
    if (cut || partial || text.length > MAX_MESSAGE) ev.truncated = true;
    if (partial) ev.partial = true;
    else if (supersedes) ev.supersedes_partial = true;
    if (ch.continuation !== undefined) {
      const cont = ch.continuation;
      const r = ctx.redact(cont.length > MAX_CONTINUATION ? cont.slice(0, MAX_CONTINUATION) : cont);
      redactions += r.count;
      ev.continuation = r.text;
    }
    ctx.counters.redactions += redactions;
    if (redactions > 0) ev.redactions = redactions;
    return ev;
  }

  /** A closed fold as an event: the first folded record's, with the count and distinct targets. */
  fold(f: FoldTarget<ErrorEvent>, distinct: FoldDistinct | undefined): ErrorEvent {
    const ev = f.event;
    // A fold has an id of its own: after a crash the same lines may be re-read and folded
    // differently, and must not be mistaken for a copy of the first record's own event.
    ev.event_id = stableId(this.ctx.clientId, ev.source?.file_id ?? this.fileId, f.first, "fold");
    ev.count = f.count;
    if (ev.source) ev.source.last_offset = f.last;
    if (distinct) ev.distinct = distinct;
    return ev;
  }
}
