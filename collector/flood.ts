/**
 * Flood control for one file: within each one-second window, the first `maxPerSecond` records of
 * one pattern and template pass as events of their own; the rest of that window are folded into
 * ONE event carrying `count` and the first and last offsets. Nothing is dropped: every record is
 * either an event or counted in a fold, and the fold says so.
 *
 * A fold is held in memory until its window closes, so the file's checkpoint must not pass the
 * fold's first offset before then (`oldestOpen()`): after a crash the folded lines are read again.
 */
export interface FoldTarget<E> {
  /** The event of the first folded record; its count and last offset are updated as records fold in. */
  event: E;
  first: number;
  last: number;
  count: number;
}

interface Window<E> {
  start: number;
  n: number;
  fold: FoldTarget<E> | undefined;
}

export class FloodControl<E> {
  private readonly windows = new Map<string, Window<E>>();
  private openFolds = 0;

  constructor(
    private readonly maxPerSecond: number,
    private readonly windowMs = 1000,
  ) {}

  /**
   * Decide for one record. Returns "pass" (ship it as its own event) or "folded" (counted into the
   * window's fold; `make` is called to build the fold's event for the first folded record).
   * `emit` receives a fold whose window closed because this key started a new one; `folded`, the
   * fold each folded record went into (the first one included), so the host can note what it held.
   */
  admit(
    key: string,
    offset: number,
    now: number,
    make: () => E,
    emit: (f: FoldTarget<E>) => void,
    folded?: (f: FoldTarget<E>) => void,
  ): "pass" | "folded" {
    let w = this.windows.get(key);
    if (w && now - w.start >= this.windowMs) {
      this.close(w, emit);
      w = undefined;
    }
    if (!w) {
      w = { start: now, n: 0, fold: undefined };
      this.windows.set(key, w);
    }
    w.n++;
    if (w.n <= this.maxPerSecond) return "pass";
    if (w.fold) {
      w.fold.count++;
      w.fold.last = offset;
    } else {
      w.fold = { event: make(), first: offset, last: offset, count: 1 };
      this.openFolds++;
    }
    folded?.(w.fold);
    return "folded";
  }

  /** Close every window older than the window length (or all with `all`), emitting their folds. */
  expire(now: number, emit: (f: FoldTarget<E>) => void, all = false): void {
    for (const [key, w] of this.windows) {
      if (all || now - w.start >= this.windowMs) {
        this.close(w, emit);
        this.windows.delete(key);
      }
    }
  }

  /** First offset of the oldest fold still open, or Infinity. */
  oldestOpen(): number {
    if (this.openFolds === 0) return Number.POSITIVE_INFINITY;
    let min = Number.POSITIVE_INFINITY;
    for (const w of this.windows.values()) if (w.fold && w.fold.first < min) min = w.fold.first;
    return min;
  }

  get size(): number {
    return this.windows.size;
  }

  /**
   * Emit the window's fold, and with it every open fold that began at or before its last offset
   * (transitively). The checkpoint stays below the oldest open fold, so an emitted fold with an
   * older one still open would be read again after a crash and its records counted twice. The
   * windows of the folds emitted early stay open: later records of theirs start a new fold.
   */
  private close(w: Window<E>, emit: (f: FoldTarget<E>) => void): void {
    if (!w.fold) return;
    let reach = this.emitFold(w, emit);
    for (let again = true; again && this.openFolds > 0; ) {
      again = false;
      for (const o of this.windows.values()) {
        if (o.fold && o.fold.first <= reach) {
          reach = Math.max(reach, this.emitFold(o, emit));
          again = true;
        }
      }
    }
  }

  private emitFold(w: Window<E>, emit: (f: FoldTarget<E>) => void): number {
    const f = w.fold!;
    w.fold = undefined;
    this.openFolds--;
    emit(f);
    return f.last;
  }
}

/** The template of a message for flood keys: numbers and long hex runs masked. */
export function floodTemplate(message: string): string {
  return message.replace(/0x[0-9a-f]+|[0-9a-f]{8,}|\d+/gi, "#");
}
