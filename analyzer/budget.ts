import { publishEvent } from "../broker/records.ts";
/**
 * The shared token budget and the token figures `/tokens/status` shows.
 *
 * Budget: `token_limits.max_tokens_per_minute` holds across ALL analyzer processes because every
 * reservation goes through the broker's atomic sliding window (one Lua script on Redis). A call
 * reserves its input estimate + max_tokens first and is settled with the real usage afterwards.
 *
 * Figures: each process keeps its own totals and writes them as one field of a shared hash (field =
 * process id). Writers never touch each other's field, so no increment is ever lost without needing
 * an atomic HINCRBY in the broker port; readers sum the fields.
 */
import type { Broker, BudgetResult } from "../broker/types.ts";
import type { CentralConfig } from "../core/config/central.ts";
import { newId } from "../core/ids.ts";

export const BUDGET_NAME = "claude-tokens";
export const STATS_HASH = "tokens:stats";
export const DEFAULT_WINDOW_MS = 60_000;

/**
 * Window length: 60 s in production. `MCPMON_BUDGET_WINDOW_MS` exists only so tests can check the
 * "never above the limit in any window" property in seconds instead of minutes.
 */
export function budgetWindowMs(env: Record<string, string | undefined> = process.env): number {
  const n = Number(env.MCPMON_BUDGET_WINDOW_MS);
  return Number.isFinite(n) && n >= 100 ? n : DEFAULT_WINDOW_MS;
}

/** Tokens a usage block counts against the budget: everything the model read or wrote. */
export interface UsageLike {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}
export function usageTotal(u: UsageLike): number {
  return (
    u.input_tokens + u.output_tokens + (u.cache_creation_input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0)
  );
}

export class TokenBudget {
  readonly limit: number;
  readonly windowMs: number;
  /**
   * Reservations are kept a little longer than the window: the API counts a request when it
   * arrives, a few ms after we reserved, so an exact window could let two requests that are 60 s
   * apart here land 59.99 s apart there.
   */
  private readonly guardMs: number;

  constructor(
    private readonly broker: Broker,
    opts: { limit: number; windowMs?: number },
  ) {
    this.limit = opts.limit;
    this.windowMs = opts.windowMs ?? budgetWindowMs();
    this.guardMs = Math.min(1000, Math.ceil(this.windowMs / 20));
  }

  /** Try once; when not granted the result says how long to wait. */
  async tryReserve(amount: number): Promise<BudgetResult & { id: string }> {
    const id = newId("tok_");
    const r = await this.broker.budgetReserve(BUDGET_NAME, {
      reservationId: id,
      amount,
      limit: this.limit,
      windowMs: this.windowMs + this.guardMs,
    });
    return { ...r, id };
  }

  /** Replace a reservation by what the call really used (0 when the request was refused unread). */
  async settle(id: string, actual: number): Promise<void> {
    await this.broker.budgetSettle(BUDGET_NAME, id, Math.max(0, Math.round(actual)));
  }

  async used(): Promise<number> {
    return this.broker.budgetUsed(BUDGET_NAME, this.windowMs + this.guardMs);
  }
}

/** Totals kept by one process. */
export interface TokenTotals {
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  calls: number;
  failed_calls: number;
  rate_limited: number;
  cache_hits: number;
  rule_hits: number;
  cost_usd: number;
}
const zero = (): TokenTotals => ({
  input_tokens: 0,
  output_tokens: 0,
  cache_read_tokens: 0,
  cache_write_tokens: 0,
  calls: 0,
  failed_calls: 0,
  rate_limited: 0,
  cache_hits: 0,
  rule_hits: 0,
  cost_usd: 0,
});

/** USD per million tokens (input, output); cache writes cost 1.25× input, reads 0.1×. An estimate. */
const PRICES: Array<[RegExp, number, number]> = [
  [/opus/, 5, 25],
  [/haiku/, 1, 5],
  [/sonnet/, 3, 15],
];
export function estimateCost(model: string, u: UsageLike): number {
  const [, inp, out] = PRICES.find(([re]) => re.test(model)) ?? [/./, 3, 15];
  const write = u.cache_creation_input_tokens ?? 0;
  const read = u.cache_read_input_tokens ?? 0;
  return (u.input_tokens * inp + write * inp * 1.25 + read * inp * 0.1 + u.output_tokens * out) / 1e6;
}

/** This process's figures, flushed to the broker at most every `flushMs` (and on `flush()`). */
export class TokenStats {
  readonly totals = zero();
  private readonly field = newId("proc_");
  private timer: ReturnType<typeof setTimeout> | null = null;
  private pending: Promise<void> = Promise.resolve();

  constructor(
    private readonly broker: Broker,
    private readonly model: string,
    private readonly flushMs = 500,
  ) {}

  recordCall(u: UsageLike): void {
    const t = this.totals;
    t.calls++;
    t.input_tokens += u.input_tokens;
    t.output_tokens += u.output_tokens;
    t.cache_read_tokens += u.cache_read_input_tokens ?? 0;
    t.cache_write_tokens += u.cache_creation_input_tokens ?? 0;
    const cost = estimateCost(this.model, u);
    t.cost_usd += cost;
    this.schedule();
    // WebSocket `tokens` subscribers see every call's usage; a lost notification loses no figure.
    void publishEvent(this.broker, {
      type: "tokens.usage",
      channel: "tokens",
      subject: this.model,
      data: {
        input_tokens: u.input_tokens,
        output_tokens: u.output_tokens,
        cache_read_tokens: u.cache_read_input_tokens ?? 0,
        cache_write_tokens: u.cache_creation_input_tokens ?? 0,
        cost_usd: cost,
      },
    }).catch(() => {});
  }
  count(what: "failed_calls" | "rate_limited" | "cache_hits" | "rule_hits"): void {
    this.totals[what]++;
    this.schedule();
    if (what === "rate_limited") {
      void publishEvent(this.broker, {
        type: "tokens.rate_limited",
        channel: "tokens",
        subject: this.model,
      }).catch(() => {});
    }
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush().catch(() => {});
    }, this.flushMs);
  }

  /** Write the totals now (also called on stop so nothing counted is lost). */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const json = JSON.stringify(this.totals);
    this.pending = this.pending.then(() => this.broker.hashSet(STATS_HASH, { [this.field]: json }));
    await this.pending;
  }
}

/** What `GET /tokens/status` shows. */
export interface TokenStatus extends TokenTotals {
  model: string;
  limit_per_minute: number;
  window_ms: number;
  used_this_window: number;
  left_this_window: number;
  /** Analyses served without a Claude call. */
  calls_avoided: number;
  /** Same as cost_usd: list prices of the model family, an estimate. */
  estimated_cost_usd: number;
}

/** Read the shared figures; works from any process (the API reads what the analyzers wrote). */
export async function readTokenStatus(
  broker: Broker,
  config: CentralConfig,
  windowMs = budgetWindowMs(),
): Promise<TokenStatus> {
  const all = await broker.hashGetAll(STATS_HASH);
  const sum = zero();
  for (const json of Object.values(all)) {
    try {
      const t = JSON.parse(json) as Partial<TokenTotals>;
      for (const k of Object.keys(sum) as Array<keyof TokenTotals>) sum[k] += Number(t[k] ?? 0) || 0;
    } catch {
      // A field that does not parse was written by an incompatible version; skip it.
    }
  }
  const limit = config.token_limits.max_tokens_per_minute;
  const used = await new TokenBudget(broker, { limit, windowMs }).used();
  sum.cost_usd = Math.round(sum.cost_usd * 1e6) / 1e6;
  return {
    ...sum,
    model: config.claude.model,
    limit_per_minute: limit,
    window_ms: windowMs,
    used_this_window: used,
    left_this_window: Math.max(0, limit - used),
    calls_avoided: sum.cache_hits + sum.rule_hits,
    estimated_cost_usd: sum.cost_usd,
  };
}
