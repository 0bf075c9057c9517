// Shared by the fault tests: each injects one fault against real parts (a real redis-server, real
// files, the real collector) and prints its row of the table
//   scenario | lines or fixes | delivered | lost | twice | stuck
// `delivered`: expected items that reached mcp:errors; `lost`: those that did not; `twice`: items
// that arrived under two different event ids (downstream would count them twice; copies under one id
// are dropped there); `stuck`: items still waiting somewhere (the spool) when the test ended.
import { join } from "node:path";
import { createBroker } from "../../broker/index.ts";
import type { Broker } from "../../broker/types.ts";
import { runCollector } from "../../collector/index.ts";
import { loadPatternsDir } from "../../core/patterns/load.ts";
import type { ErrorEvent } from "../../core/schemas/error-event.ts";
import { clientConfig } from "../fixtures/collector-util.ts";

export const patterns = loadPatternsDir(join(import.meta.dir, "../../patterns"));

export interface FaultRow {
  scenario: string;
  items: number;
  delivered: number;
  lost: number;
  twice: number;
  stuck: number;
}

/** Print one row of the fault table (bun test shows a test's stdout). */
export function printRow(r: FaultRow): void {
  const n = (x: number) => String(x).padStart(6);
  console.log(
    `FAULT | ${r.scenario.padEnd(58)} | ${n(r.items)} | ${n(r.delivered)} | ${n(r.lost)} | ${n(r.twice)} | ${n(r.stuck)}`,
  );
}

/** The events in a broker's mcp:errors, decoded. */
export async function errorEvents(broker: Broker): Promise<ErrorEvent[]> {
  return (await broker.range(broker.keys.errors, "-", "+")).map(
    (e) => JSON.parse(e.fields.data!) as ErrorEvent,
  );
}

/**
 * Tally expected items against events: `keyOf` names the item an event stands for (undefined: not
 * one of ours). An item seen under two event ids counts in `twice`.
 */
export function tally(expected: Iterable<string>, events: ErrorEvent[], keyOf: (e: ErrorEvent) => string[]) {
  const ids = new Map<string, Set<string>>();
  for (const e of events)
    for (const k of keyOf(e)) {
      if (!ids.has(k)) ids.set(k, new Set());
      ids.get(k)!.add(e.event_id);
    }
  const want = [...expected];
  const delivered = want.filter((k) => ids.has(k)).length;
  const twice = want.filter((k) => (ids.get(k)?.size ?? 0) > 1).length;
  return { items: want.length, delivered, lost: want.length - delivered, twice, ids };
}

/** An in-process collector shipping to a real Redis under its own prefix. */
export async function redisCollector(url: string, name: string, dir: string, over: Record<string, unknown>) {
  const config = clientConfig({
    client_id: name,
    state_dir: join(dir, `state-${name}`),
    broker: { url, prefix: `fault-${name}-${process.pid}:` },
    ...over,
  });
  const { prefix, durable } = config.broker;
  const broker = createBroker(url, { prefix, durable, connectTimeoutMs: 2000 });
  const c = await runCollector([config], { broker, patterns, tuning: { heartbeat: false } }).catch(
    async (err) => {
      await broker.close();
      throw err;
    },
  );
  return {
    broker,
    c,
    counters: () => c.status().clients[0]!.counters,
    spooled: () => c.status().clients[0]!.spool_depth,
    async stop() {
      await c.stop({ drainMs: 0 });
      await broker.close();
    },
  };
}
