import { makeKeys } from "../keys.ts";
import type { Broker, BrokerHealth } from "../types.ts";
import { Db, type EmbeddedBrokerOptions } from "./db.ts";
import { embeddedState } from "./state.ts";
import { appendInTx, embeddedStreams } from "./streams.ts";
import { Waiters } from "./waiters.ts";

export type { EmbeddedBrokerOptions } from "./db.ts";

/**
 * The embedded broker: one SQLite file (WAL) with Redis Streams semantics, for single-machine
 * mode. Several processes may open the same file; SQLite serialises their writes.
 *
 * @example const broker = createEmbeddedBroker({ path: "/var/lib/mcpmon/broker.db" });
 */
export function createEmbeddedBroker(opts: EmbeddedBrokerOptions): Broker {
  const db = new Db(opts);
  const keys = makeKeys(opts.prefix);
  const waiters = new Waiters(db, opts.pollMs);
  return {
    kind: "embedded",
    keys,
    ...embeddedStreams(db, keys, waiters),
    ...embeddedState(db, keys, { appendTx: appendInTx(db), notify: () => waiters.notify(keys.events) }),
    async health(): Promise<BrokerHealth> {
      if (db.closed) return { ok: false, kind: "embedded", state: "closed" };
      const started = performance.now();
      try {
        db.read("health", () => db.sql.query("SELECT 1").get());
        return { ok: true, kind: "embedded", state: "open", latency_ms: performance.now() - started };
      } catch (err) {
        return { ok: false, kind: "embedded", state: "error", error: (err as Error).message };
      }
    },
    async close() {
      waiters.close();
      db.close();
    },
  };
}
