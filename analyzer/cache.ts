/**
 * The analysis cache: one Claude analysis per fingerprint, shared by every worker and host through
 * the broker's TTL cache, so the same error anywhere costs at most one call per `cache_ttl_hours`.
 * Only analyses that validated are stored; a hit is re-validated on read because the cache outlives
 * code versions.
 */
import * as v from "valibot";
import type { StatePort } from "../broker/types.ts";
import { Action, Check, Risk } from "../core/schemas/actions.ts";
import type { Analysis } from "./types.ts";

const Cached = v.object({
  diagnosis: v.string(),
  root_cause: v.optional(v.string()),
  confidence: v.optional(v.number()),
  risk: Risk,
  actions: v.array(Action),
  preconditions: v.optional(v.array(Check), []),
  verify: v.optional(v.array(Check), []),
  rollback: v.optional(v.array(Action), []),
});

export function cacheKey(fingerprint: string): string {
  return `analysis:${fingerprint}`;
}

export class AnalysisCache {
  constructor(
    private readonly state: Pick<StatePort, "cacheGet" | "cacheSet">,
    private readonly ttlHours: number,
  ) {}

  get enabled(): boolean {
    return this.ttlHours > 0;
  }

  async get(fingerprint: string): Promise<Analysis | null> {
    if (!this.enabled) return null;
    const raw = await this.state.cacheGet(cacheKey(fingerprint));
    if (raw === null) return null;
    try {
      const parsed = v.safeParse(Cached, JSON.parse(raw));
      return parsed.success ? parsed.output : null;
    } catch {
      return null;
    }
  }

  async set(fingerprint: string, analysis: Analysis): Promise<void> {
    if (!this.enabled) return;
    await this.state.cacheSet(cacheKey(fingerprint), JSON.stringify(analysis), this.ttlHours * 3_600_000);
  }
}
