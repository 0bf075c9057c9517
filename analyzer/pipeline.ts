/**
 * What happens to one entry of `mcp:errors`: redact again, strip the header, mine the template,
 * count the event into its incident, and, for the one caller that must analyse, try rules first,
 * then the shared cache, then Claude (or, offline, hand it to a human with a reason).
 */
import { ensureEnqueued, publishEvent } from "../broker/records.ts";
import type { Broker, Delivery } from "../broker/types.ts";
import type { CentralConfig } from "../core/config/central.ts";
import { stableId } from "../core/ids.ts";
import type { Logger } from "../core/log.ts";
import { matchPattern } from "../core/patterns/check.ts";
import { stripHeader, withoutLevel } from "../core/patterns/header.ts";
import type { ServicePatterns } from "../core/patterns/index.ts";
import type { Pattern } from "../core/patterns/schema.ts";
import { redact } from "../core/redact/index.ts";
import { decode } from "../core/schemas/codec.ts";
import { ErrorEvent } from "../core/schemas/error-event.ts";
import type { Incident } from "../core/schemas/incident.ts";
import type { TokenStats } from "./budget.ts";
import type { AnalysisCache } from "./cache.ts";
import type { Batcher } from "./claude/batcher.ts";
import { expandFold, unlistedReason } from "./fold.ts";
import { incidentId, recordEvent } from "./incidents.ts";
import { settleSplitLine } from "./partial.ts";
import { submitProposal, toHuman } from "./proposals.ts";
import { remediationFields, ruleProposal } from "./rules.ts";
import type { TemplateMiner } from "./templates/miner.ts";
import { brokerTemplateStore, loadMiner, saveMiner, type TemplateStore } from "./templates/store.ts";
import type { Outcome, Proposal } from "./types.ts";

/** Redeliveries are recognised by event id for a week, far beyond any pending entry's life. */
const SEEN_TTL_MS = 7 * 24 * 3_600_000;
const MAX_MESSAGE = 8_192;

export const OFFLINE_REASON =
  "Claude is not enabled (no API key): set CLAUDE_API_KEY or ANTHROPIC_API_KEY (or claude_api_key in the central config) and restart the analyzer; only rules and cached analyses are used meanwhile";

export interface PipelineCounters {
  events: number;
  duplicates: number;
  incidents_created: number;
  analyses: number;
  rule_hits: number;
  cache_hits: number;
  claude_proposals: number;
  needs_human: number;
  fixes_queued: number;
  fixes_awaiting: number;
  fixes_refused: number;
}

export interface PipelineDeps {
  broker: Broker;
  config: CentralConfig;
  patterns: Map<string, ServicePatterns>;
  log: Logger;
  cache: AnalysisCache;
  stats: TokenStats;
  /** Null in offline mode. */
  batcher: Batcher | null;
  templates?: TemplateStore;
  /** Called once per newly counted event (the host's metrics count ingestion by service and pattern). */
  onEvent?: (event: ErrorEvent) => void;
}

export class Pipeline {
  readonly counters: PipelineCounters = {
    events: 0,
    duplicates: 0,
    incidents_created: 0,
    analyses: 0,
    rule_hits: 0,
    cache_hits: 0,
    claude_proposals: 0,
    needs_human: 0,
    fixes_queued: 0,
    fixes_awaiting: 0,
    fixes_refused: 0,
  };
  private readonly miners = new Map<string, Promise<TemplateMiner>>();
  private readonly dirty = new Set<string>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly store: TemplateStore;
  /** Incident of each entry whose analysis is still unfinished (for dead-lettering). */
  private readonly entryIncident = new Map<string, string>();

  constructor(private readonly d: PipelineDeps) {
    // "templates", not keys.hash("templates"): the state port prefixes it (the old doubled key is
    // only read back as a fallback).
    this.store = d.templates ?? brokerTemplateStore(d.broker, "templates", d.broker.keys.hash("templates"));
  }

  /** Decode an entry; throws a non-retryable VALIDATION error for a malformed one. */
  decode(entry: Delivery): ErrorEvent {
    return decode(ErrorEvent, entry.fields);
  }

  /** Process one delivery; throws to leave the entry pending (it will be retried or dead-lettered). */
  async handle(entry: Delivery): Promise<void> {
    const event = this.decode(entry);
    // A flood fold carries one sample per distinct target (file, upstream…): each is an event of
    // its own, with its own incident and fix; records past the collector's bounds go to a person.
    const { events, unlisted } = expandFold(event);
    for (const one of events) await this.handleOne(entry, one);
    if (unlisted > 0 && events[0] !== event) {
      const { distinct: _, ...rest } = event;
      await this.handleOne(
        entry,
        { ...rest, event_id: stableId(event.event_id, "unlisted"), fields: {}, count: unlisted },
        unlistedReason(event, unlisted),
      );
    }
  }

  /** One event (or one target of a fold); `toPerson` sends its incident to a human with that reason. */
  private async handleOne(entry: Delivery, event: ErrorEvent, toPerson?: string): Promise<void> {
    const { broker, config, patterns } = this.d;
    // Redeliveries are recognised by event id: the mark `seen:analyzer:<event_id>` (holding the
    // incident id, so `GET /errors/{event_id}` can say where the event went) is written in the
    // same atomic step as the count, so a consumer that dies at any point neither loses the count
    // nor lets the consumer that claims the entry count it twice.
    const seenKey = `seen:analyzer:${event.event_id}`;
    try {
      const sp = patterns.get(event.service);
      const message = redact(event.message.slice(0, MAX_MESSAGE)).text;
      const miner = await this.miner(event.service);
      const stripped = sp ? stripHeader(sp, message).message : message;
      const mined = miner.add(stripped, event.pattern_id);
      if (mined.changed) this.dirty.add(event.service);
      // The event's pattern id and fields are claims (anyone with a reporter token, or write access
      // to the stream, can make them): the pattern's own regex is run again over the message, and
      // only what it extracts may fill a remediation. A message the claimed pattern does not match
      // gets no rule fix at all.
      const matched = rematch(sp, event.pattern_id, message, stripped);
      const pattern = matched.pattern;
      // Records past a fold's bounds name no target: their incident is one of its own, for a person.
      const fields = toPerson ? {} : matched.fields;
      // Keyed on the fields the pattern's own match extracted, never on claimed ones.
      const id = incidentId(mined.fingerprint, { ...event, fields }, remediationFields(pattern));
      const rec = await this.serial(id, () =>
        recordEvent(broker, {
          event: { ...event, fields },
          incidentId: id,
          fingerprint: mined.fingerprint,
          template: mined.template,
          sample: message,
          mark: { key: seenKey, value: id, ttlMs: SEEN_TTL_MS },
          redelivered: entry.deliveries > 1,
          loopGuard: {
            maxFixes: config.incidents.loop_guard_max_fixes,
            windowMinutes: config.incidents.loop_guard_window_minutes,
          },
        }),
      );
      await settleSplitLine(broker, event, id, SEEN_TTL_MS);
      if (rec.counted) this.d.onEvent?.(event);
      else this.counters.duplicates++;
      this.entryIncident.set(entry.id, id);
      this.counters.events++;
      if (rec.created) this.counters.incidents_created++;
      if (rec.analyze && toPerson) await toHuman(broker, rec.incident, toPerson);
      else if (rec.analyze) await this.analyze(rec.incident, pattern);
      else if (entry.deliveries > 1 && rec.incident.status === "queued" && rec.incident.fix_ids?.length)
        // A redelivery after the fix was written but before it reached mcp:fixes: finish the hand-off
        // (only for redeliveries: every repeat of a queued incident's error would read the fix).
        await ensureEnqueued(broker, rec.incident.fix_ids[rec.incident.fix_ids.length - 1]!);
    } catch (err) {
      this.d.log.debug({ entry: entry.id, err: String(err) }, "entry failed");
      throw err;
    }
  }

  incidentOf(entryId: string): string | undefined {
    return this.entryIncident.get(entryId);
  }
  forget(entryId: string): void {
    this.entryIncident.delete(entryId);
  }

  /** Rules, then cache, then Claude; the incident ends proposed/queued/awaiting or needs_human. */
  async analyze(incident: Incident, pattern: Pattern | undefined): Promise<void> {
    this.counters.analyses++;
    const round = incident.regressions ?? 0;
    const rule = ruleProposal(pattern, incident.fields ?? {});
    let outcome: Outcome;
    if (rule?.ok) {
      this.counters.rule_hits++;
      this.d.stats.count("rule_hits");
      outcome = {
        kind: "proposal",
        proposal: { ...rule.analysis, incident_id: incident.incident_id, source: "rule" },
      };
    } else if (rule && !rule.ok) {
      outcome = { kind: "needs_human", source: "rule", reason: rule.reason };
    } else {
      // After a regression the cached analysis evidently did not hold: ask afresh.
      const cached = round === 0 ? await this.d.cache.get(incident.fingerprint) : null;
      if (cached) {
        this.counters.cache_hits++;
        this.d.stats.count("cache_hits");
        outcome = {
          kind: "proposal",
          proposal: { ...cached, incident_id: incident.incident_id, source: "cache" },
        };
      } else if (!this.d.batcher) {
        outcome = { kind: "needs_human", source: "none", reason: OFFLINE_REASON };
      } else {
        outcome = await this.d.batcher.submit(incident);
        if (outcome.kind === "proposal") this.counters.claude_proposals++;
      }
    }
    await this.apply(incident, outcome);
  }

  private async apply(incident: Incident, outcome: Outcome): Promise<void> {
    // The API's /metrics counts analyses by source (mcp_analyzer_calls_total) from this event.
    await publishEvent(this.d.broker, {
      type: "analysis.done",
      channel: "incidents",
      subject: incident.incident_id,
      data: {
        source: outcome.kind === "proposal" ? outcome.proposal.source : outcome.source,
        outcome: outcome.kind,
      },
    });
    if (outcome.kind === "needs_human") {
      this.counters.needs_human++;
      await toHuman(this.d.broker, incident, outcome.reason, { source: outcome.source });
      return;
    }
    const r = await submitProposal(
      {
        broker: this.d.broker,
        patterns: this.d.patterns,
        approval: this.d.config.executor,
      },
      incident,
      outcome.proposal as Proposal,
    );
    if (r.status === "queued") this.counters.fixes_queued++;
    else if (r.status === "awaiting_approval") this.counters.fixes_awaiting++;
    else {
      this.counters.needs_human++;
      if (r.fix?.status === "refused") this.counters.fixes_refused++;
    }
    this.d.log.info(
      {
        incident_id: incident.incident_id,
        service: incident.service,
        source: outcome.proposal.source,
        fix_id: r.fix?.fix_id,
        status: r.status,
      },
      `incident ${incident.incident_id} → ${r.status}`,
    );
  }

  /** Serialise writes to one incident inside this process: concurrent CAS on a hot key only wastes retries. */
  private async serial<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => {});
    this.locks.set(key, tail);
    try {
      return await run;
    } finally {
      if (this.locks.get(key) === tail) this.locks.delete(key);
    }
  }

  private miner(service: string): Promise<TemplateMiner> {
    let m = this.miners.get(service);
    if (!m) {
      m = loadMiner(this.store, service).catch((err) => {
        this.miners.delete(service);
        throw err;
      });
      this.miners.set(service, m);
    }
    return m;
  }

  /** Persist templates that changed, so other workers and restarts agree on fingerprints. */
  async saveTemplates(): Promise<void> {
    const services = [...this.dirty];
    this.dirty.clear();
    for (const s of services) {
      const m = this.miners.get(s);
      if (m) await saveMiner(this.store, await m).catch(() => this.dirty.add(s));
    }
  }
}

/** The claimed pattern, if its regex matches the (redacted) message, with the fields it extracts. */
export function rematch(
  sp: ServicePatterns | undefined,
  patternId: string,
  message: string,
  stripped: string,
): { pattern: Pattern | undefined; fields: Record<string, string> } {
  const cp = sp?.patterns.find((p) => p.pattern.id === patternId);
  // A submitted message without its header may still carry its level word (withoutLevel).
  const fields = cp
    ? (matchPattern(cp, message, stripped) ??
      (sp && stripped === message ? matchPattern(cp, message, withoutLevel(sp, message)) : null))
    : null;
  return fields && cp ? { pattern: cp.pattern, fields } : { pattern: undefined, fields: {} };
}
