import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Broker } from "../broker/types.ts";
import { registerTokenMetrics } from "./token-metrics.ts";

/** Figures other components report through the process that serves the API. */
export interface MetricsSources {
  broker: Broker;
  /** Streams whose length and pending count are exported. */
  streams: Array<{ name: string; group?: string }>;
  /** Analyzer token figures (readTokenStatus), if an analyzer shares this broker. */
  tokens?: () => Promise<Record<string, unknown> | null>;
  /**
   * The services and their pattern ids: the only values the `service` and `pattern` labels take
   * (anything else is `other`), so no client can make a series per made-up id.
   */
  patterns?: ReadonlyMap<string, { patterns: ReadonlyArray<{ pattern: { id: string } }> }>;
}

/**
 * The Prometheus registry of one process. Counters are fed by the API itself and by the events it
 * tails from `mcp:events` (so fixes run by executors elsewhere are counted too); queue figures are
 * read from the broker at scrape time.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly eventsIngested = new Counter({
    name: "mcp_events_ingested_total",
    help: "Matched error events received, by service and pattern",
    labelNames: ["service", "pattern"],
    registers: [this.registry],
  });
  readonly incidents = new Counter({
    name: "mcp_incident_status_changes_total",
    help: "Incident status changes, by new status",
    labelNames: ["status"],
    registers: [this.registry],
  });
  readonly fixes = new Counter({
    name: "mcp_fixes_total",
    help: "Fixes that reached a final state, by outcome",
    labelNames: ["outcome"],
    registers: [this.registry],
  });
  readonly fixDuration = new Histogram({
    name: "mcp_fix_duration_seconds",
    help: "Duration of fix runs",
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  readonly sweeperRepairs = new Counter({
    name: "mcp_sweeper_repairs_total",
    help: "Fixes whose record and queue disagreed and were repaired by a sweeper, by kind",
    labelNames: ["kind"],
    registers: [this.registry],
  });
  readonly analyzerCalls = new Counter({
    name: "mcp_analyzer_calls_total",
    help: "Analyses by source (rule, cache, claude)",
    labelNames: ["source"],
    registers: [this.registry],
  });
  readonly apiDuration = new Histogram({
    name: "mcp_api_request_duration_seconds",
    help: "API request duration",
    labelNames: ["method", "route", "status"],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  private readonly known: Map<string, Set<string>> | null;

  constructor(sources: MetricsSources) {
    const { broker, streams } = sources;
    this.known = sources.patterns
      ? new Map(
          [...sources.patterns].map(([svc, sp]) => [svc, new Set(sp.patterns.map((p) => p.pattern.id))]),
        )
      : null;
    // One broker read per scrape fills the three queue gauges: each gauge's collect awaits the
    // same read (the registry collects them concurrently), so every figure is current at scrape time.
    type Figures = Array<{
      stream: string;
      length: number;
      groups: Array<{ name: string; pending: number; lag: number | null }>;
    }>;
    let read: { at: number; p: Promise<Figures> } | null = null;
    const figures = (): Promise<Figures> => {
      if (read && performance.now() - read.at < 250) return read.p;
      const p = (async () => {
        const out: Figures = [];
        for (const s of streams) {
          try {
            const st = await broker.stats(s.name);
            out.push({ stream: s.name, length: st.length, groups: st.groups });
          } catch {
            // Broker down: /health says so; the scrape still answers with what it has.
          }
        }
        return out;
      })();
      read = { at: performance.now(), p };
      return p;
    };
    new Gauge({
      name: "mcp_queue_length",
      help: "Entries in each stream",
      labelNames: ["stream"],
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const f of await figures()) this.set({ stream: f.stream }, f.length);
      },
    });
    new Gauge({
      name: "mcp_queue_pending",
      help: "Entries delivered to a consumer group and not yet acknowledged",
      labelNames: ["stream", "group"],
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const f of await figures())
          for (const g of f.groups) this.set({ stream: f.stream, group: g.name }, g.pending);
      },
    });
    new Gauge({
      name: "mcp_queue_lag",
      help: "Entries not yet delivered to the consumer group",
      labelNames: ["stream", "group"],
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const f of await figures())
          for (const g of f.groups) if (g.lag !== null) this.set({ stream: f.stream, group: g.name }, g.lag);
      },
    });
    if (sources.tokens) registerTokenMetrics(this.registry, sources.tokens);
  }

  /**
   * Count matched events by service and pattern. Label values are bounded: a service or pattern id
   * the loaded patterns do not know (a reporter's made-up id, the catch-all's) counts as `other`.
   */
  countIngested(service: string, pattern: string, count: number): void {
    const ids = this.known?.get(service);
    const labels = this.known
      ? { service: ids ? service : "other", pattern: ids?.has(pattern) ? pattern : "other" }
      : { service, pattern };
    this.eventsIngested.inc(labels, count);
  }

  /** Feed counters from one `mcp:events` entry. */
  observeEvent(type: string, data: Record<string, unknown>): void {
    if (type === "incident.status" && typeof data.to === "string") this.incidents.inc({ status: data.to });
    if (type === "fix.status" && typeof data.status === "string") {
      const final = ["fixed", "failed", "rolled_back", "rollback_failed", "rejected", "refused", "dry_run"];
      if (final.includes(data.status)) {
        this.fixes.inc({ outcome: data.status });
        if (typeof data.duration_ms === "number") this.fixDuration.observe(data.duration_ms / 1000);
      }
    }
    if (type === "sweeper.repaired" && typeof data.kind === "string")
      this.sweeperRepairs.inc({ kind: data.kind });
    if (type === "analysis.done" && typeof data.source === "string")
      this.analyzerCalls.inc({ source: data.source });
  }
}
