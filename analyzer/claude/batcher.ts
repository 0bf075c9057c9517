/**
 * Batching: incidents waiting for Claude are grouped per service and client (one service context
 * per request, so the cached prefix is shared; clients apart unless claude.batch_across_clients) into requests of up to `token_limits.batch_size`, waiting at most
 * `claude.batch_wait_ms` for a batch to fill. The queue is ordered by priority (services listed in
 * `processing.critical_services` first, then critical > error > warning, then age), and the order
 * is taken again every time budget frees up, so when tokens are short the important incidents go
 * first and warnings wait.
 */

import { errorMessage, isMcpError } from "../../core/errors.ts";
import type { Logger } from "../../core/log.ts";
import type { ServicePatterns } from "../../core/patterns/index.ts";
import { SEVERITY_ORDER } from "../../core/schemas/common.ts";
import type { Incident } from "../../core/schemas/incident.ts";
import type { Analysis, Outcome } from "../types.ts";
import type { ClaudeCaller } from "./client.ts";
import { buildRequest, estimateInputTokens } from "./prompt.ts";
import { describeProblems, type ParsedAnswer, parseToolInput, TOOL_NAME } from "./tool.ts";

export interface BatcherOptions {
  caller: ClaudeCaller;
  model: string;
  maxTokens: number;
  batchSize: number;
  batchWaitMs: number;
  criticalServices: readonly string[];
  patterns: Map<string, ServicePatterns>;
  log: Logger;
  /** Whether processing is paused now; while it is, no request is sent. */
  paused?: () => Promise<boolean>;
  /** claude.batch_across_clients: mix clients of one service in a request (default false). */
  batchAcrossClients?: boolean;
  /** Requests in flight at once in this process. */
  maxConcurrent?: number;
  /** Called with every validated analysis (the cache stores it). */
  onAnalysis?: (incident: Incident, analysis: Analysis) => Promise<void>;
}

interface Item {
  incident: Incident;
  priority: [number, number, number];
  resolve(o: Outcome): void;
  reject(err: unknown): void;
}

export class Batcher {
  private queue: Item[] = [];
  private inflight = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly abort = new AbortController();
  private pumping = false;
  requests = 0;

  constructor(private readonly o: BatcherOptions) {}

  /** Incidents queued or in flight: a second submission (a redelivery) joins the first. */
  private readonly pending = new Map<string, Promise<Outcome>>();

  /** Analyse one incident; rejects (retryable) when Claude stays unavailable. */
  submit(incident: Incident): Promise<Outcome> {
    const key = `${incident.incident_id}:${incident.regressions ?? 0}`;
    const existing = this.pending.get(key);
    if (existing) return existing;
    const p = this.enqueue(incident).finally(() => this.pending.delete(key));
    this.pending.set(key, p);
    return p;
  }

  private enqueue(incident: Incident): Promise<Outcome> {
    return new Promise((resolve, reject) => {
      if (this.abort.signal.aborted) return reject(new Error("analyzer stopping"));
      const critical = this.o.criticalServices.includes(incident.service) ? 0 : 1;
      this.queue.push({
        incident,
        priority: [critical, -SEVERITY_ORDER[incident.severity], Date.now()],
        resolve,
        reject,
      });
      void this.pump();
    });
  }

  get waiting(): number {
    return this.queue.length;
  }

  /** Stop: waiting incidents are rejected (their entries stay pending) and calls are aborted. */
  stop(): void {
    this.abort.abort();
    if (this.timer) clearTimeout(this.timer);
    for (const item of this.queue.splice(0)) item.reject(new Error("analyzer stopping"));
  }

  private later(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(
      () => {
        this.timer = null;
        void this.pump();
      },
      Math.max(1, ms),
    );
  }

  private async pump(): Promise<void> {
    if (this.pumping || this.abort.signal.aborted) return;
    this.pumping = true;
    try {
      while (this.queue.length > 0 && this.inflight < (this.o.maxConcurrent ?? 2)) {
        // Processing paused (POST /processing/pause): queued incidents wait, no request is sent.
        if (this.o.paused && (await this.o.paused())) {
          this.later(500);
          return;
        }
        this.queue.sort((a, b) => cmp(a.priority, b.priority));
        const key = this.batchKey(this.queue[0]!.incident);
        const group = this.queue.filter((i) => this.batchKey(i.incident) === key).slice(0, this.o.batchSize);
        const oldest = Math.min(...group.map((i) => i.priority[2]));
        const waited = Date.now() - oldest;
        if (group.length < this.o.batchSize && waited < this.o.batchWaitMs) {
          this.later(this.o.batchWaitMs - waited);
          return;
        }
        const params = this.request(group);
        const amount = estimateInputTokens(params) + params.max_tokens;
        let reservation: string | undefined;
        try {
          if (amount > this.o.caller.budgetLimit) {
            reservation = undefined; // the caller reports it as a permanent failure
          } else {
            const r = await this.o.caller.tryReserve(amount);
            if (!r.granted) {
              // Budget short: look again when it frees up, taking the priority order afresh then.
              this.later(Math.min(Math.max(r.retryAfterMs, 20), 5_000));
              return;
            }
            reservation = r.id;
          }
        } catch (err) {
          this.o.log.warn({ err: errorMessage(err) }, "token budget unavailable, retrying");
          this.later(1_000);
          return;
        }
        this.queue = this.queue.filter((i) => !group.includes(i));
        this.inflight++;
        void this.run(group, params, reservation).finally(() => {
          this.inflight--;
          void this.pump();
        });
      }
    } finally {
      this.pumping = false;
    }
  }

  /**
   * Incidents that may share a request: one service, and (unless `batchAcrossClients`) the same
   * clients, so text one client's log wrote never sits in a prompt that proposes another's fix.
   */
  private batchKey(incident: Incident): string {
    if (this.o.batchAcrossClients) return incident.service;
    return `${incident.service}\u0000${[...incident.client_ids].sort().join("\u0000")}`;
  }

  private request(group: Item[]) {
    const service = group[0]!.incident.service;
    return buildRequest({
      model: this.o.model,
      maxTokens: this.o.maxTokens,
      service,
      sp: this.o.patterns.get(service),
      incidents: group.map((i) => i.incident),
    });
  }

  private async run(
    group: Item[],
    params: ReturnType<Batcher["request"]>,
    reservation: string | undefined,
  ): Promise<void> {
    const ids = group.map((i) => i.incident.incident_id);
    const signal = this.abort.signal;
    try {
      this.requests++;
      const first = await this.o.caller.call(params, signal, reservation);
      const toolUse = first.message.content.find((b) => b.type === "tool_use" && b.name === TOOL_NAME);
      const parsed: ParsedAnswer = toolUse
        ? parseToolInput((toolUse as { input: unknown }).input, ids)
        : {
            valid: new Map(),
            invalid: new Map(ids.map((id) => [id, "no propose_fixes call"])),
            general: ["the answer did not call propose_fixes"],
          };
      if (parsed.invalid.size > 0 && toolUse) {
        // Retry once, showing the model exactly what was wrong (tool_result with is_error).
        this.requests++;
        const retry = await this.o.caller.call(
          {
            ...params,
            messages: [
              ...params.messages,
              { role: "assistant", content: first.message.content as never },
              {
                role: "user",
                content: [
                  {
                    type: "tool_result",
                    tool_use_id: (toolUse as { id: string }).id,
                    is_error: true,
                    content: describeProblems(parsed),
                  },
                ],
              },
            ],
          },
          signal,
        );
        const again = retry.message.content.find((b) => b.type === "tool_use" && b.name === TOOL_NAME);
        const second = again
          ? parseToolInput((again as { input: unknown }).input, [...parsed.invalid.keys()])
          : null;
        for (const [id, a] of second?.valid ?? []) {
          parsed.valid.set(id, a);
          parsed.invalid.delete(id);
        }
        if (second) for (const [id, msg] of second.invalid) parsed.invalid.set(id, msg);
      }
      for (const item of group) {
        const id = item.incident.incident_id;
        const analysis = parsed.valid.get(id);
        if (analysis) {
          await this.o.onAnalysis?.(item.incident, analysis).catch(() => {});
          item.resolve({ kind: "proposal", proposal: { ...analysis, incident_id: id, source: "claude" } });
        } else {
          const why = parsed.invalid.get(id) ?? parsed.general.join("; ");
          item.resolve({
            kind: "needs_human",
            source: "claude",
            reason: `Claude's answer was invalid twice: ${why}`.slice(0, 1000),
          });
        }
      }
    } catch (err) {
      if (isMcpError(err) && !err.retryable) {
        for (const item of group)
          item.resolve({ kind: "needs_human", source: "claude", reason: err.message });
      } else {
        for (const item of group) item.reject(err);
      }
    }
  }
}

function cmp(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i]! !== b[i]!) return a[i]! - b[i]!;
  return 0;
}
