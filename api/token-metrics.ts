import { Counter, Gauge, type Registry } from "prom-client";

/**
 * Claude's figures as Prometheus wants them: one metric per unit. Totals are cumulative across
 * every analyzer (kept in the broker), so they are counters set from that shared total at scrape
 * time; the budget window's figures are gauges in base units. One read of the token status serves
 * every metric of a scrape (the registry collects them concurrently).
 */
export function registerTokenMetrics(
  registry: Registry,
  read: () => Promise<Record<string, unknown> | null>,
): void {
  let last: { at: number; p: Promise<Record<string, unknown> | null> } | null = null;
  const status = () => {
    if (!last || performance.now() - last.at > 250)
      last = { at: performance.now(), p: read().catch(() => null) };
    return last.p;
  };
  const num = (t: Record<string, unknown> | null, k: string) => {
    const v = t?.[k];
    return typeof v === "number" && Number.isFinite(v) ? v : undefined;
  };
  const counter = (name: string, help: string, labels: Record<string, Record<string, string>>) =>
    new Counter({
      name,
      help,
      labelNames: [...new Set(Object.values(labels).flatMap((l) => Object.keys(l)))],
      registers: [registry],
      async collect() {
        this.reset();
        const t = await status();
        for (const [key, l] of Object.entries(labels)) {
          const v = num(t, key);
          if (v !== undefined) this.inc(l, v);
        }
      },
    });
  const gauge = (name: string, help: string, key: string, scale = 1) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        this.reset();
        const v = num(await status(), key);
        if (v !== undefined) this.set(v * scale);
      },
    });
  counter("mcp_claude_tokens_total", "Tokens sent to and received from Claude, by kind", {
    input_tokens: { kind: "input" },
    output_tokens: { kind: "output" },
    cache_read_tokens: { kind: "cache_read" },
    cache_write_tokens: { kind: "cache_write" },
  });
  counter("mcp_claude_requests_total", "Requests to Claude, by outcome", {
    calls: { outcome: "answered" },
    failed_calls: { outcome: "failed" },
    rate_limited: { outcome: "rate_limited" },
  });
  counter("mcp_claude_cost_usd_total", "Estimated cost of Claude requests in US dollars", { cost_usd: {} });
  counter("mcp_analyses_without_claude_total", "Analyses answered without a Claude call, by source", {
    cache_hits: { source: "cache" },
    rule_hits: { source: "rule" },
  });
  gauge(
    "mcp_token_budget_limit_tokens",
    "Tokens all analyzers may use per budget window",
    "limit_per_minute",
  );
  gauge("mcp_token_budget_used_tokens", "Tokens used in the current budget window", "used_this_window");
  gauge(
    "mcp_token_budget_window_seconds",
    "Length of the token budget's sliding window",
    "window_ms",
    1 / 1000,
  );
}
