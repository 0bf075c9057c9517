import { errorMessage } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import { DEFAULT_CONSUMER_IDLE_MS, DEFAULT_TRIM_KEEP } from "./keys.ts";
import type { StreamsPort } from "./types.ts";

export interface TrimmerOptions {
  /** How often; default 30 s (a work queue gains at most that much acknowledged backlog). */
  everyMs?: number;
  /** Newest entries always kept (recent history for `XRANGE`); default DEFAULT_TRIM_KEEP. */
  keep?: number;
  /**
   * The group whose consumers that left are removed at each round: those idle longer than
   * `consumerIdleMs` (default DEFAULT_CONSUMER_IDLE_MS) with nothing pending, e.g. a process
   * killed without a clean stop; XINFO CONSUMERS then lists the live ones.
   */
  group?: string;
  consumerIdleMs?: number;
  log: Logger;
}

/**
 * Periodically delete what every group of a work queue is done with (StreamsPort.trimAcked).
 * Work queues are appended without MAXLEN, so without this `mcp:errors` and `mcp:fixes` grow until
 * Redis runs out of memory. One timer per worker process is enough; several processes trimming
 * the same stream is harmless (the trim is one atomic step, and a second one finds nothing).
 * Returns the function that stops it.
 */
export function startTrimmer(broker: StreamsPort, stream: string, o: TrimmerOptions): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    void broker
      .trimAcked(stream, { keep: o.keep ?? DEFAULT_TRIM_KEEP })
      .then(async (n) => {
        if (n > 0) o.log.debug({ stream, trimmed: n }, "acknowledged entries trimmed");
        if (!o.group) return;
        const idleMs = o.consumerIdleMs ?? DEFAULT_CONSUMER_IDLE_MS;
        const gone = await broker.removeConsumers(stream, o.group, { idleMs });
        if (gone.length > 0)
          o.log.info({ stream, group: o.group, consumers: gone }, "idle consumers removed");
      })
      .catch((err) =>
        o.log.warn(
          { stream, err: errorMessage(err) },
          "trimming acknowledged entries or idle consumers failed",
        ),
      )
      .finally(() => {
        running = false;
      });
  }, o.everyMs ?? 30_000);
  return () => clearInterval(timer);
}
