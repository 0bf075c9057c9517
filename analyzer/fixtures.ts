/**
 * Event generators and small helpers shared by the analyzer's tests and benchmark (kept here, not in
 * test/, because the benchmark uses them too). Nothing in production imports this file.
 */
import * as v from "valibot";
import type { Broker } from "../broker/types.ts";
import { CentralConfig } from "../core/config/central.ts";
import { stableId } from "../core/ids.ts";
import { encode } from "../core/schemas/codec.ts";
import type { ErrorEvent } from "../core/schemas/error-event.ts";

/** A checked central config from a partial object (defaults fill the rest). */
export function testConfig(over: Record<string, unknown> = {}): CentralConfig {
  return v.parse(CentralConfig, over);
}

const WORDS = [
  "alpha",
  "bravo",
  "charlie",
  "delta",
  "echo",
  "foxtrot",
  "golf",
  "hotel",
  "india",
  "juliet",
  "kilo",
  "lima",
  "mike",
  "november",
  "oscar",
  "papa",
  "quebec",
  "romeo",
  "sierra",
  "tango",
];

/**
 * `count` events of `distinct` different errors (pattern ids `app-error-K`, no remediation, so they
 * need an analysis) spread over `hosts` hosts; event ids are stable per (run, i).
 */
export function distinctErrors(opts: {
  count: number;
  distinct: number;
  hosts: number;
  run?: string;
  service?: string;
  severity?: ErrorEvent["severity"];
}): ErrorEvent[] {
  const out: ErrorEvent[] = [];
  const t0 = Date.parse("2026-11-24T01:00:00Z");
  for (let i = 0; i < opts.count; i++) {
    const k = i % opts.distinct;
    const host = `web${Math.floor(i / opts.distinct) % opts.hosts}`;
    out.push({
      v: 1,
      event_id: `ev_${stableId(opts.run ?? "run", i)}`,
      client_id: `client-${host}`,
      host,
      service: opts.service ?? "nginx",
      time: new Date(t0 + i * 10).toISOString(),
      pattern_id: `app-error-${k}`,
      severity: opts.severity ?? "error",
      category: "other",
      message: `2026/11/24 01:02:03 [error] ${100 + i}#0: *${i} ${WORDS[k % WORDS.length]} subsystem failure ${i} while handling request ${i * 7}, client: 10.0.${i % 250}.${k}`,
      fields: {},
      count: 1,
    });
  }
  return out;
}

/** An nginx permission-denied event (its pattern has a rule remediation using `${path}`). */
export function permissionDenied(i: number, host: string, path: string): ErrorEvent {
  return {
    v: 1,
    event_id: `ev_pd_${stableId(host, path, i)}`,
    client_id: `client-${host}`,
    host,
    service: "nginx",
    time: new Date(Date.parse("2026-11-24T01:00:00Z") + i).toISOString(),
    pattern_id: "nginx-permission-denied",
    severity: "error",
    category: "permissions",
    message: `2026/11/24 01:02:03 [error] 5827#5827: *${i} open() "${path}" failed (13: Permission denied), client: 127.0.0.1, server: localhost, request: "GET /x HTTP/1.1"`,
    fields: { path, client: "127.0.0.1" },
    count: 1,
  };
}

/** Append events to mcp:errors in chunks. */
export async function appendEvents(broker: Broker, events: ErrorEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += 500) {
    await broker.append(
      broker.keys.errors,
      events.slice(i, i + 500).map((e) => encode("error", e)),
    );
  }
}

/** Poll `cond` until true or `timeoutMs` passes (then throws with `what`). */
export async function waitFor(
  what: string,
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(25);
  }
}

/** Pending entries of the analyzers group (0 = everything acknowledged or dead-lettered). */
export async function pendingCount(broker: Broker): Promise<number> {
  const s = await broker.stats(broker.keys.errors);
  return s.groups.find((g) => g.name === "analyzers")?.pending ?? 0;
}

/** Everything read and acknowledged: no lag, nothing pending. */
export async function drained(broker: Broker): Promise<boolean> {
  const s = await broker.stats(broker.keys.errors);
  const g = s.groups.find((x) => x.name === "analyzers");
  return !!g && g.pending === 0 && (g.lag ?? 0) === 0 && g.last_delivered_id === s.last_id;
}
