import type { Db } from "./db.ts";

/**
 * Blocking reads for the embedded broker. Appends made by this process wake waiters at once;
 * appends made by other processes on the same file are noticed by polling SQLite's
 * `data_version` (cheap, no lock) every `pollMs`, and only then is the read retried.
 */
export class Waiters {
  private readonly byStream = new Map<string, Set<() => void>>();
  private closed = false;

  constructor(
    private readonly db: Db,
    private readonly pollMs = 25,
  ) {}

  notify(stream: string): void {
    const set = this.byStream.get(stream);
    if (!set) return;
    this.byStream.delete(stream);
    for (const wake of set) wake();
  }

  /** Run `attempt` until it returns entries, `blockMs` passes, or the broker closes (then []). */
  async block<T>(stream: string, blockMs: number, attempt: () => T[]): Promise<T[]> {
    const first = attempt();
    if (first.length > 0 || blockMs <= 0) return first;
    const deadline = Date.now() + blockMs;
    let version = this.db.dataVersion();
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0 || this.closed) return [];
      const woken = await this.sleep(stream, Math.min(left, this.pollMs));
      if (this.closed) return [];
      const now = this.db.dataVersion();
      if (!woken && now === version) continue;
      version = now;
      const res = attempt();
      if (res.length > 0) return res;
    }
  }

  /** Resolve true when notified for `stream`, false after `ms`. */
  private sleep(stream: string, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      let set = this.byStream.get(stream);
      if (!set) {
        set = new Set();
        this.byStream.set(stream, set);
      }
      const wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.byStream.get(stream)?.delete(wake);
        resolve(false);
      }, ms);
      set.add(wake);
    });
  }

  /** Wake every waiter; they return no entries. */
  close(): void {
    this.closed = true;
    for (const stream of [...this.byStream.keys()]) this.notify(stream);
  }
}
