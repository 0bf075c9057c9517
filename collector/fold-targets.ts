import { remediationFields } from "../core/patterns/load.ts";
import type { Pattern } from "../core/patterns/schema.ts";

/** One distinct target of a fold: the first folded record that had it, and how many had it. */
export interface TargetSample {
  /** Offset of the first record with these values (its event id if it is expanded). */
  offset: number;
  count: number;
  /** That record's redacted message: the analyzer matches it again rather than trust the values. */
  message: string;
}

/** What a fold event carries in `distinct`. */
export interface FoldDistinct {
  /** The remediation's fields whose values tell the targets apart. */
  fields: string[];
  samples: TargetSample[];
  /** Folded records whose values were not kept (past the bounds): which targets they name is unknown. */
  rest: number;
}

/** Sample messages of one fold, at most (the event schema allows 1 MiB of message in all). */
export const MAX_SAMPLE_BYTES = 512 * 1024;

/** Field names a pattern's remediation fills (`${path}`): what makes one fix differ from another. */
export const targetFields = (pattern: Pattern): string[] => remediationFields(pattern);

/**
 * The distinct targets of one open fold. Flood control folds records by pattern and template, and
 * the template masks only numbers: 1,000 unreadable files in one second are one fold, and without
 * this its event named one file. Bounded by `maxDistinct` targets and MAX_SAMPLE_BYTES of messages;
 * records past the bounds are counted in `rest`.
 */
export class DistinctTargets {
  private readonly index = new Map<string, TargetSample>();
  private readonly samples: TargetSample[] = [];
  private bytes = 0;
  private rest = 0;

  constructor(
    readonly fields: string[],
    private readonly maxDistinct: number,
  ) {}

  /** Note one folded record; `message` (redacted) is asked for only for a new target. */
  add(values: Record<string, string>, offset: number, message: () => string): void {
    const key = this.fields.map((f) => values[f] ?? "").join("\u0000");
    const known = this.index.get(key);
    if (known) {
      known.count++;
      return;
    }
    if (this.samples.length >= this.maxDistinct || this.bytes >= MAX_SAMPLE_BYTES) {
      this.rest++;
      return;
    }
    const text = message();
    const s: TargetSample = { offset, count: 1, message: text };
    this.bytes += text.length;
    this.index.set(key, s);
    this.samples.push(s);
  }

  toJSON(): FoldDistinct {
    return { fields: this.fields, samples: this.samples, rest: this.rest };
  }
}
