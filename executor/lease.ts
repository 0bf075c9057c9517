import type { Broker } from "../broker/types.ts";
import { errorMessage } from "../core/errors.ts";

/**
 * The lease of one run of a fix: a sign of life, not the ownership itself.
 *
 * Who owns a fix is decided by the fix record alone: `run.token` is raised by a compare-and-set on
 * the record's version (queued → executing, or a recoverer taking over an executing fix), and
 * every write of a run is fenced on it (FixAudit). The lease only tells others whether the run
 * named in the record is still alive, so that a fix is recovered only when its run is gone.
 *
 * Design (the broker port has no compare-and-set on kv values): one kv key PER RUN,
 * `executor:lease:<fix>:<executor>:<token>`, value `<executor>:<token>`. No other run ever
 * writes that key, so renewing it with a plain kvSet can never overwrite a newer owner's lease,
 * and deleting it at the end can never delete someone else's: the value is ours by construction.
 * A recoverer looks up the key of the run the record names; when it is gone, that run lapsed.
 *
 * The run keeps its own deadline: the lease is valid until the send time of the last successful
 * renewal plus the lease time (the broker's expiry is never earlier). One failed renewal, or a
 * deadline passed (a stalled event loop), marks the lease lost for good; `check` then throws
 * LeaseLost and the run stops before its next step. A step already running when the lease lapses
 * is bounded by its timeout: a recoverer waits that long (`drainMs` in recover.ts) before it
 * touches the host.
 */
export class LeaseLost extends Error {
  constructor(readonly why: string) {
    super(why);
    this.name = "LeaseLost";
  }
}

export interface RunId {
  executor: string;
  token: number;
}

export const leaseKey = (fixId: string, run: RunId): string =>
  `executor:lease:${fixId}:${run.executor}:${run.token}`;

export class RunLease {
  readonly key: string;
  readonly value: string;
  private validUntil: number;
  private lost: string | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  private constructor(
    private readonly broker: Broker,
    run: RunId,
    fixId: string,
    private readonly ms: number,
    sentAt: number,
  ) {
    this.key = leaseKey(fixId, run);
    this.value = `${run.executor}:${run.token}`;
    this.validUntil = sentAt + ms;
  }

  /** Take the lease of a new run; null when that run's key already exists (same name twice). */
  static async acquire(broker: Broker, fixId: string, run: RunId, ms: number): Promise<RunLease | null> {
    const sent = performance.now();
    if (
      !(await broker.kvSet(leaseKey(fixId, run), `${run.executor}:${run.token}`, {
        ttlMs: ms,
        ifAbsent: true,
      }))
    )
      return null;
    const lease = new RunLease(broker, run, fixId, ms, sent);
    lease.schedule();
    return lease;
  }

  private schedule(): void {
    if (this.stopped || this.lost) return;
    this.timer = setTimeout(() => void this.renew(), Math.max(50, Math.floor(this.ms / 3)));
  }

  private async renew(): Promise<void> {
    if (this.stopped || this.lost) return;
    const sent = performance.now();
    if (sent >= this.validUntil) {
      this.lost = `the lease lapsed (not renewed within ${this.ms} ms)`;
      return;
    }
    try {
      await this.broker.kvSet(this.key, this.value, { ttlMs: this.ms });
    } catch (err) {
      this.lost = `the lease could not be renewed (${errorMessage(err)})`;
      return;
    }
    // A renewal that came back after the deadline cannot revive the lease: someone may have
    // seen it missing in between.
    if (sent >= this.validUntil) {
      this.lost = `the lease lapsed (not renewed within ${this.ms} ms)`;
      return;
    }
    this.validUntil = sent + this.ms;
    this.schedule();
  }

  /** Why the lease is lost, or undefined while it holds (with a margin for the step to start). */
  lostReason(): string | undefined {
    if (!this.lost && performance.now() >= this.validUntil - this.ms / 10)
      this.lost = `the lease lapsed (not renewed within ${this.ms} ms)`;
    return this.lost;
  }

  /** Throws LeaseLost when the lease is lost; called before every step on the host. */
  check(next: string): void {
    const why = this.lostReason();
    if (why) throw new LeaseLost(`${why}; stopped before ${next}`);
  }

  /** Stop renewing and delete the key (it is this run's own, see above). */
  async release(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.broker.kvDelete(this.key).catch(() => {});
  }
}

/**
 * How long a run's lease lasts, and how long an entry idles before another executor takes it over.
 * Short by default (10 s and 15 s), so a dead executor's fix is recovered within about 15 s plus
 * whatever remains of a step it had started (that step's timeout and a 7 s grace).
 */
export function leaseTimes(config: {
  processing: { claim_idle_ms: number };
  executor: { claim_idle_ms?: number | undefined; lease_ms?: number | undefined };
}): { leaseMs: number; claimIdleMs: number } {
  const shared = config.processing.claim_idle_ms;
  return {
    leaseMs: config.executor.lease_ms ?? Math.min(shared, 10_000),
    claimIdleMs: config.executor.claim_idle_ms ?? Math.min(shared, 15_000),
  };
}
