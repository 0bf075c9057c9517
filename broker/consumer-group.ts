import { errorMessage, isMcpError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import type { DeadLetter } from "../core/schemas/event.ts";
import type { Broker, Delivery } from "./types.ts";

/**
 * NOGROUP (NOT_FOUND from a read or claim): Redis restarted without persistence, or the stream or
 * group was deleted. Without this every read fails forever while producers keep appending. The
 * group is recreated from "0" so everything appended since is read; anything read twice is
 * recognised downstream by its stable id. True when the caller should simply read again.
 */
export async function recreateMissingGroup(
  broker: Pick<Broker, "ensureGroup">,
  stream: string,
  group: string,
  consumer: string,
  err: unknown,
  log: Logger,
): Promise<boolean> {
  if (!isMcpError(err, "NOT_FOUND")) return false;
  log.warn({ consumer, stream, group, err: errorMessage(err) }, "consumer group missing; recreating it");
  try {
    await broker.ensureGroup(stream, group, "0");
    return true;
  } catch (e) {
    log.error({ consumer, err: errorMessage(e) }, "recreating the consumer group failed; retrying");
    return false;
  }
}

/** The `mcp:dlq` entry for a delivery given up on, the same in both broker implementations. */
export function deadLetterOf(stream: string, group: string, entry: Delivery, reason: string): DeadLetter {
  return {
    v: 1,
    stream,
    group,
    entry_id: entry.id,
    deliveries: entry.deliveries,
    reason,
    failed_at: new Date().toISOString(),
    fields: entry.fields,
  };
}
