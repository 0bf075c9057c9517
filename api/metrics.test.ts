import { expect, test } from "bun:test";
import { createEmbeddedBroker } from "../broker/index.ts";
import { loadPatternsDir } from "../core/patterns/load.ts";
import { Metrics } from "./metrics.ts";

test("labels are bounded: 1,000 made-up pattern ids and services make one `other` series, known ids keep theirs", async () => {
  const broker = createEmbeddedBroker({ path: ":memory:" });
  try {
    const patterns = loadPatternsDir();
    const metrics = new Metrics({ broker, streams: [], patterns });
    for (let i = 0; i < 1000; i++) metrics.countIngested("nginx", `made-up-${i}`, 1);
    for (let i = 0; i < 100; i++) metrics.countIngested(`svc-${i}`, "x", 1);
    metrics.countIngested("nginx", "nginx-permission-denied", 3);
    const text = await metrics.registry.metrics();
    const series = text.split("\n").filter((l) => l.startsWith("mcp_events_ingested_total{"));
    expect(series.sort()).toEqual([
      'mcp_events_ingested_total{service="nginx",pattern="nginx-permission-denied"} 3',
      'mcp_events_ingested_total{service="nginx",pattern="other"} 1000',
      'mcp_events_ingested_total{service="other",pattern="other"} 100',
    ]);
  } finally {
    await broker.close();
  }
});

test("queue gauges are current at the first scrape", async () => {
  const broker = createEmbeddedBroker({ path: ":memory:" });
  try {
    await broker.ensureGroup(broker.keys.errors, "analyzers", "0");
    await broker.append(broker.keys.errors, [{ data: "{}" }, { data: "{}" }, { data: "{}" }]);
    await broker.readGroup(broker.keys.errors, "analyzers", "c1", { count: 1 });
    const metrics = new Metrics({ broker, streams: [{ name: broker.keys.errors }] });
    const text = await metrics.registry.metrics();
    const s = broker.keys.errors;
    expect(text).toContain(`mcp_queue_length{stream="${s}"} 3`);
    expect(text).toContain(`mcp_queue_pending{stream="${s}",group="analyzers"} 1`);
    expect(text).toContain(`mcp_queue_lag{stream="${s}",group="analyzers"} 2`);
  } finally {
    await broker.close();
  }
});

test("Claude's figures: one unit per metric, counters for totals, gauges in base units", async () => {
  const broker = createEmbeddedBroker({ path: ":memory:" });
  try {
    const status = {
      input_tokens: 1200,
      output_tokens: 300,
      cache_read_tokens: 50,
      cache_write_tokens: 10,
      calls: 4,
      failed_calls: 1,
      rate_limited: 2,
      cache_hits: 5,
      rule_hits: 7,
      cost_usd: 0.0123,
      limit_per_minute: 40000,
      used_this_window: 900,
      window_ms: 60000,
    };
    const metrics = new Metrics({ broker, streams: [], tokens: async () => status });
    const text = await metrics.registry.metrics();
    for (const line of [
      "# TYPE mcp_claude_tokens_total counter",
      'mcp_claude_tokens_total{kind="input"} 1200',
      'mcp_claude_tokens_total{kind="cache_write"} 10',
      'mcp_claude_requests_total{outcome="rate_limited"} 2',
      "mcp_claude_cost_usd_total 0.0123",
      'mcp_analyses_without_claude_total{source="rule"} 7',
      "# TYPE mcp_token_budget_window_seconds gauge",
      "mcp_token_budget_window_seconds 60",
      "mcp_token_budget_used_tokens 900",
    ])
      expect(text).toContain(line);
    expect(text).not.toContain("mcp_tokens{");
  } finally {
    await broker.close();
  }
});
