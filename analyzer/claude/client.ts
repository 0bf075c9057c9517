/**
 * One Messages API call under the shared budget, with our own retries: the SDK's are turned off
 * (`maxRetries: 0`) because a retry must first reserve budget again, and a 429 must wait what the
 * server says (`retry-after`, `anthropic-ratelimit-*-reset`) rather than a generic backoff.
 * After `claude.max_retries` the call fails with a retryable McpError and the caller leaves its
 * stream entries pending, so nothing is lost.
 */
import Anthropic from "@anthropic-ai/sdk";
import { errorMessage, McpError } from "../../core/errors.ts";
import type { Logger } from "../../core/log.ts";
import { type TokenBudget, type TokenStats, usageTotal } from "../budget.ts";
import { estimateInputTokens } from "./prompt.ts";

export type MessageParams = Anthropic.Messages.MessageCreateParamsNonStreaming;

export interface CallerOptions {
  apiKey: string;
  baseURL?: string | undefined;
  timeoutMs: number;
  maxRetries: number;
  budget: TokenBudget;
  stats: TokenStats;
  log: Logger;
  /** A ready client (tests); default one built from apiKey/baseURL. */
  client?: Anthropic;
  /** Cap on one wait for the budget or a 429, so stop() is never stuck behind a long sleep. */
  maxWaitMs?: number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export interface CallResult {
  message: Anthropic.Messages.Message;
  /** Tokens the budget was charged (the real usage). */
  tokens: number;
}

const abortableSleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });

export class ClaudeCaller {
  readonly client: Anthropic;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;

  constructor(private readonly opts: CallerOptions) {
    this.client =
      opts.client ??
      new Anthropic({
        apiKey: opts.apiKey,
        ...(opts.baseURL ? { baseURL: opts.baseURL } : {}),
        maxRetries: 0,
        timeout: opts.timeoutMs,
      });
    this.sleep = opts.sleep ?? abortableSleep;
  }

  get budgetLimit(): number {
    return this.opts.budget.limit;
  }

  /** One reservation attempt (the batcher uses it to decide when a batch may go). */
  tryReserve(amount: number) {
    return this.opts.budget.tryReserve(amount);
  }

  /** Reserve `amount` tokens, waiting as long as the shared window says. */
  async reserve(amount: number, signal: AbortSignal): Promise<string> {
    const { budget } = this.opts;
    if (amount > budget.limit) {
      throw new McpError(
        "RATE_LIMITED",
        `one request needs ${amount} tokens, more than token_limits.max_tokens_per_minute (${budget.limit})`,
      );
    }
    for (;;) {
      if (signal.aborted)
        throw new McpError("RATE_LIMITED", "stopped while waiting for token budget", { retryable: true });
      const r = await budget.tryReserve(amount);
      if (r.granted) return r.id;
      await this.sleep(Math.min(Math.max(r.retryAfterMs, 20), this.opts.maxWaitMs ?? 5_000), signal);
    }
  }

  /**
   * Send `params`. `reservation` is a reservation the caller already holds for the first attempt
   * (the batcher reserves before it commits to a batch); retries reserve again.
   */
  async call(params: MessageParams, signal: AbortSignal, reservation?: string): Promise<CallResult> {
    const { budget, stats, log } = this.opts;
    const estimate = estimateInputTokens(params) + params.max_tokens;
    let lastError = "";
    for (let attempt = 0; attempt <= this.opts.maxRetries; attempt++) {
      const id = attempt === 0 && reservation ? reservation : await this.reserve(estimate, signal);
      try {
        const { data } = await this.client.messages.create(params, { signal }).withResponse();
        const tokens = usageTotal(data.usage);
        await budget.settle(id, tokens);
        stats.recordCall(data.usage);
        return { message: data, tokens };
      } catch (err) {
        if (signal.aborted) {
          await budget.settle(id, estimate).catch(() => {});
          throw new McpError("TIMEOUT", "stopped during a Claude call", { retryable: true, cause: err });
        }
        const status = err instanceof Anthropic.APIError ? err.status : undefined;
        lastError = status ? `HTTP ${status}: ${errorMessage(err)}` : errorMessage(err);
        stats.count("failed_calls");
        if (err instanceof Anthropic.RateLimitError || status === 429) {
          // Refused before any token was read: give the reservation back.
          await budget.settle(id, 0);
          stats.count("rate_limited");
          const wait = rateLimitWait((err as InstanceType<typeof Anthropic.APIError>).headers);
          log.warn({ attempt, wait_ms: wait }, "Claude rate limit (429), waiting as the server asks");
          if (attempt < this.opts.maxRetries)
            await this.sleep(Math.min(wait, this.opts.maxWaitMs ?? 60_000), signal);
          continue;
        }
        const transient =
          err instanceof Anthropic.APIConnectionError ||
          (status !== undefined && (status >= 500 || status === 408));
        // A timeout may have been read and billed; a 5xx answer was not.
        await budget.settle(id, err instanceof Anthropic.APIConnectionError ? estimate : 0);
        if (!transient) {
          throw new McpError("MODEL_INVALID", `Claude refused the request: ${lastError}`, {
            cause: err,
            retryable: false,
          });
        }
        const backoff = Math.min(30_000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
        log.warn(
          { attempt, status, backoff_ms: Math.round(backoff) },
          `Claude call failed, retrying: ${lastError}`,
        );
        if (attempt < this.opts.maxRetries) await this.sleep(backoff, signal);
      }
    }
    throw new McpError(
      "RATE_LIMITED",
      `Claude call failed after ${this.opts.maxRetries + 1} attempts: ${lastError}`,
      {
        retryable: true,
      },
    );
  }
}

/** How long a 429 asks us to wait: the largest of retry-after and the ratelimit reset times. */
export function rateLimitWait(headers: Headers | undefined, now = Date.now()): number {
  let wait = 1_000;
  const ra = headers?.get("retry-after");
  if (ra) {
    const s = Number(ra);
    if (Number.isFinite(s)) wait = Math.max(wait, s * 1000);
    else if (!Number.isNaN(Date.parse(ra))) wait = Math.max(wait, Date.parse(ra) - now);
  }
  for (const name of [
    "anthropic-ratelimit-tokens-reset",
    "anthropic-ratelimit-input-tokens-reset",
    "anthropic-ratelimit-requests-reset",
  ]) {
    const v = headers?.get(name);
    const remaining = headers?.get(name.replace(/-reset$/, "-remaining"));
    if (v && remaining === "0" && !Number.isNaN(Date.parse(v))) wait = Math.max(wait, Date.parse(v) - now);
  }
  return Math.max(0, wait);
}
