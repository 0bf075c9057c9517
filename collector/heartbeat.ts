import { publishEvent } from "../broker/records.ts";
import type { Broker } from "../broker/types.ts";
import { redactDeep } from "../core/redact/index.ts";
import type { ClientRecord } from "../core/schemas/client.ts";
import type { HealthResult } from "./health.ts";

/** What a heartbeat reports besides health: the figures of `ClientStatus`. */
export interface HeartbeatFacts {
  client_id: string;
  host: string;
  service_type: string;
  version: string;
  files: Array<{ path: string; offset: number; size: number; lag_bytes: number }>;
  lag_bytes: number;
  spool_depth: number;
  spool_bytes: number;
  reading_paused: boolean;
  counters: Record<string, number>;
}

/**
 * Write the client's record in the broker (compare-and-set on its version, so a concurrent write by
 * the API, e.g. an operator's note, is not overwritten blindly: on conflict the record is read again
 * and the heartbeat re-applied). Keeps `registered_at` from the first heartbeat.
 */
export async function sendHeartbeat(
  broker: Broker,
  facts: HeartbeatFacts,
  health: HealthResult,
  now = new Date(),
): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const cur = await broker.getRecord<ClientRecord>("client", facts.client_id);
    // Redacted like every other way in: health detail quotes what the service's check printed.
    const { value: record } = redactDeep<ClientRecord>({
      ...(cur?.value ?? {}),
      v: 1,
      client_id: facts.client_id,
      host: facts.host,
      service_type: facts.service_type,
      registered_at: cur?.value.registered_at ?? now.toISOString(),
      last_heartbeat: now.toISOString(),
      health: health.health,
      health_detail: health.detail,
      version: facts.version,
      files: facts.files,
      lag_bytes: facts.lag_bytes,
      spool_depth: facts.spool_depth,
      spool_bytes: facts.spool_bytes,
      reading_paused: facts.reading_paused,
      counters: facts.counters,
    });
    const ok = await broker.putRecord("client", facts.client_id, record, cur?.version ?? 0);
    if (ok !== null) {
      // WebSocket `clients` subscribers (every API instance) see heartbeats and health changes.
      await publishEvent(broker, {
        type:
          cur?.value.health !== undefined && cur.value.health !== health.health
            ? "client.health"
            : "client.heartbeat",
        channel: "clients",
        subject: facts.client_id,
        data: {
          health: health.health,
          previous_health: cur?.value.health ?? null,
          detail: health.detail,
          lag_bytes: facts.lag_bytes,
          spool_depth: facts.spool_depth,
          reading_paused: facts.reading_paused,
        },
      });
      return;
    }
  }
  throw new Error(`client record ${facts.client_id}: too many concurrent writes`);
}
