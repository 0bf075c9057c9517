import type { Broker } from "../broker/types.ts";
import { errorMessage } from "../core/errors.ts";
import type { StateDb } from "./spool.ts";

export interface ShipperOptions {
  clientId: string;
  /** The stream to append to (`broker.keys.errors`). */
  stream: string;
  maxEvents: number;
  /** How long an idle shipper sleeps before looking at the spool again (it is also woken by `notify`). */
  idleMs: number;
  /** Backoff bounds while the broker is away. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** A failed round: `where` is the broker (append) or the spool (peek, remove). */
  onError?: (err: unknown, attempt: number, where: "broker" | "spool") => void;
  onShipped?: (n: number) => void;
}

export interface ShipperStatus {
  shipped: number;
  batches: number;
  errors: number;
  /** True while the last append failed (the broker is unreachable or refusing). */
  broker_down: boolean;
  last_error?: string;
}

/**
 * Moves events from the spool to the broker: the oldest `maxEvents` in one `append` (one round
 * trip), deleted from the spool only after the append resolved. A failed append is retried with
 * exponential backoff, forever: the spool (bounded) and then the log files are the buffer.
 * An entry appended but not deleted (crash between the two) is appended again with the same event
 * id, which downstream recognises.
 *
 * Batching needs no timer: while one append is in flight, new events accumulate and go in the next.
 */
export class Shipper {
  readonly status: ShipperStatus = { shipped: 0, batches: 0, errors: 0, broker_down: false };
  private wake: (() => void) | undefined;
  private interrupt: (() => void) | undefined;
  private stopped = false;
  private done: Promise<void> | undefined;
  private attempt = 0;

  constructor(
    private readonly db: StateDb,
    private readonly broker: Broker,
    private readonly opts: ShipperOptions,
  ) {}

  start(): void {
    this.done ??= this.loop();
  }

  /** New events were committed: ship them now. */
  notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /**
   * Stop after the current append. With `drainMs`, keep shipping until the spool is empty or the
   * time is up (a clean shutdown sends what it has; what remains is shipped at the next start).
   */
  async stop(drainMs = 0): Promise<void> {
    const until = Date.now() + drainMs;
    while (
      drainMs > 0 &&
      Date.now() < until &&
      this.db.depthOf(this.opts.clientId).rows > 0 &&
      !this.status.broker_down
    ) {
      this.notify();
      await Bun.sleep(20);
    }
    this.stopped = true;
    this.interrupt?.();
    await this.done;
  }

  private async loop(): Promise<void> {
    const { clientId, stream, maxEvents } = this.opts;
    while (!this.stopped) {
      // The spool's own errors (SQLITE_FULL, I/O errors, a lock past busy_timeout) are retried with
      // the same backoff as the broker's: one of them must not end this loop, which nobody awaits
      // until stop(), and leave the spool to fill while the status says all is well.
      let rows: ReturnType<StateDb["peek"]>;
      try {
        rows = this.db.peek(clientId, maxEvents);
      } catch (err) {
        await this.failed(err, false);
        continue;
      }
      if (rows.length === 0) {
        await this.sleep(this.opts.idleMs);
        continue;
      }
      try {
        await this.broker.append(
          stream,
          rows.map((r) => ({ type: "error", data: r.data })),
        );
      } catch (err) {
        await this.failed(err, true);
        continue;
      }
      this.status.broker_down = false;
      try {
        // Only now, with the broker's ids in hand, may the events leave the spool. If this fails
        // they are appended again next round: same event ids, which downstream recognises.
        this.db.remove(clientId, rows[rows.length - 1]!.seq);
      } catch (err) {
        await this.failed(err, false);
        continue;
      }
      this.attempt = 0;
      this.status.shipped += rows.length;
      this.status.batches++;
      this.opts.onShipped?.(rows.length);
    }
  }

  /** Count and report a failure (of the broker, or of the spool), then back off. */
  private async failed(err: unknown, broker: boolean): Promise<void> {
    this.attempt++;
    this.status.errors++;
    if (broker) this.status.broker_down = true;
    this.status.last_error = broker ? errorMessage(err) : `spool: ${errorMessage(err)}`;
    this.opts.onError?.(err, this.attempt, broker ? "broker" : "spool");
    const min = this.opts.minBackoffMs ?? 100;
    const max = this.opts.maxBackoffMs ?? 5000;
    const wait = Math.min(max, min * 2 ** Math.min(this.attempt - 1, 16));
    await this.sleep(wait * (0.75 + Math.random() * 0.5), false);
  }

  /** Sleep up to `ms`; `notify()` cuts it short unless `wakeable` is false (backoff). */
  private sleep(ms: number, wakeable = true): Promise<void> {
    return new Promise((resolve) => {
      const end = () => {
        clearTimeout(t);
        this.wake = undefined;
        this.interrupt = undefined;
        resolve();
      };
      const t = setTimeout(end, ms);
      this.interrupt = end;
      if (wakeable) this.wake = end;
    });
  }
}
