import { existsSync, type FSWatcher, watch } from "node:fs";

/**
 * Wakes the tailer when something may have changed: `fs.watch` (inotify) on the folders of the
 * globs for speed, and a timer every `pollMs` as the fallback that always works (network file
 * systems, folders created later, events inotify misses). Waking is coalesced: `wait()` resolves
 * at the first of a watch event, `poke()`, or the poll timeout.
 */
export class Waker {
  private readonly watchers = new Map<string, FSWatcher>();
  private pending = false;
  private resolve: (() => void) | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  constructor(
    private readonly dirs: string[],
    private readonly pollMs: number,
  ) {
    this.rewatch();
  }

  /** Watch folders that exist now and are not watched yet (called at every poll). */
  rewatch(): void {
    if (this.closed) return;
    for (const dir of this.dirs) {
      if (this.watchers.has(dir) || !existsSync(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, () => this.poke());
        w.on("error", () => {
          // The folder was removed or the watch limit reached: the poll timer still covers it.
          w.close();
          this.watchers.delete(dir);
        });
        this.watchers.set(dir, w);
      } catch {
        // Out of inotify watches or not supported here: polling alone.
      }
    }
  }

  poke(): void {
    this.pending = true;
    const r = this.resolve;
    if (r) {
      this.resolve = undefined;
      if (this.timer) clearTimeout(this.timer);
      r();
    }
  }

  /** Resolve at the next change, or after `ms` (default the poll interval). */
  wait(ms = this.pollMs): Promise<void> {
    if (this.pending || this.closed) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((res) => {
      this.resolve = () => {
        this.pending = false;
        res();
      };
      this.timer = setTimeout(() => this.poke(), ms);
    });
  }

  close(): void {
    this.closed = true;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    this.poke();
  }
}
