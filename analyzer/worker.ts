/**
 * Analyzer workers: `processing.error_processors` consumers in the group `analyzers` on
 * `mcp:errors`. Several processes on several machines share the work through the group.
 *
 * Delivery invariants:
 * - an entry is acknowledged only after its effect is durable (incident counted; for the entry that
 *   triggered an analysis, the fix record written and the incident moved on);
 * - a consumer first finishes its own pending entries (from "0"), and every consumer periodically
 *   claims entries idle longer than `claim_idle_ms` (a dead consumer's, or its own failed ones);
 *   entries in flight here are touched every `claim_idle_ms / 3`, so however long they wait for a
 *   batch or for budget, only a consumer that stopped touching (dead) loses them;
 * - an entry delivered `max_deliveries` times without success goes to `mcp:dlq` with the reason,
 *   and its incident (found through the event's mark when this process never handled it) goes to
 *   needs_human;
 * - a lost group (Redis restarted without persistence) is recreated, so appends go on being read;
 * - acknowledged entries are trimmed from the stream every `trimEveryMs`;
 * - while the pause flag is set nothing new is read.
 */
import { hostname } from "node:os";
import type Anthropic from "@anthropic-ai/sdk";
import { recreateMissingGroup } from "../broker/consumer-group.ts";
import { GROUPS } from "../broker/keys.ts";
import { isPaused } from "../broker/records.ts";
import { startTrimmer } from "../broker/trimmer.ts";
import type { Broker, Delivery } from "../broker/types.ts";
import type { CentralConfig } from "../core/config/central.ts";
import { errorMessage, isMcpError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import type { ServicePatterns } from "../core/patterns/index.ts";
import type { ErrorEvent } from "../core/schemas/error-event.ts";
import { budgetWindowMs, TokenBudget, TokenStats } from "./budget.ts";
import { AnalysisCache } from "./cache.ts";
import { Batcher } from "./claude/batcher.ts";
import { ClaudeCaller } from "./claude/client.ts";
import { markedIncident, recordDeadLetter } from "./operator.ts";
import { Pipeline, type PipelineCounters } from "./pipeline.ts";

export interface AnalyzerOptions {
  broker: Broker;
  config: CentralConfig;
  /** "" = offline mode: rules and cache only. */
  apiKey: string;
  patterns: Map<string, ServicePatterns>;
  log: Logger;
  /** A ready SDK client (tests); default: built from apiKey and `claude.base_url`. */
  anthropicClient?: Anthropic;
  /** Consumer name prefix; stable across restarts lets a restarted process finish its own pending entries. */
  consumerPrefix?: string;
  /** Budget window; 60 s unless a test shortens it. */
  budgetWindowMs?: number;
  /** Entries one consumer works on at once (most of them wait briefly on the incident's lock or a batch). */
  maxInflight?: number;
  /** Called once per newly counted event (metrics of the hosting process). */
  onEvent?: (event: ErrorEvent) => void;
  /** How often acknowledged entries of mcp:errors are trimmed (default 30 s). */
  trimEveryMs?: number;
  /** Newest entries the trim always keeps (default DEFAULT_TRIM_KEEP). */
  trimKeep?: number;
}

export interface AnalyzerStats extends PipelineCounters {
  consumers: number;
  acked: number;
  dead_lettered: number;
  failed: number;
  inflight: number;
  batch_waiting: number;
  claude_requests: number;
  offline: boolean;
  paused: boolean;
}

export interface Analyzers {
  /** Stop reading, abort waiting batches (their entries stay pending), flush figures and templates. */
  stop(): Promise<void>;
  stats(): AnalyzerStats;
}

/**
 * Start the analyzer consumers of this process.
 *
 * @example
 *   const { config, apiKey } = loadCentralConfig("configs/mcp-config.yml");
 *   const a = await startAnalyzers({ broker, config, apiKey, patterns: loadPatternsDir(), log });
 *   process.on("SIGTERM", () => a.stop());
 */
export async function startAnalyzers(opts: AnalyzerOptions): Promise<Analyzers> {
  const { broker, config, log } = opts;
  const stream = broker.keys.errors;
  const group = GROUPS.analyzers;
  await broker.ensureGroup(stream, group, "0");

  const stats = new TokenStats(broker, config.claude.model);
  const budget = new TokenBudget(broker, {
    limit: config.token_limits.max_tokens_per_minute,
    windowMs: opts.budgetWindowMs ?? budgetWindowMs(),
  });
  const cache = new AnalysisCache(broker, config.token_limits.cache_ttl_hours);
  const offline = !opts.apiKey && !opts.anthropicClient;
  const batcher = offline
    ? null
    : new Batcher({
        caller: new ClaudeCaller({
          apiKey: opts.apiKey,
          baseURL: config.claude.base_url,
          timeoutMs: config.claude.timeout_s * 1000,
          maxRetries: config.claude.max_retries,
          budget,
          stats,
          log,
          ...(opts.anthropicClient ? { client: opts.anthropicClient } : {}),
        }),
        model: config.claude.model,
        maxTokens: config.claude.max_tokens,
        batchSize: config.token_limits.batch_size,
        batchWaitMs: config.claude.batch_wait_ms,
        batchAcrossClients: config.claude.batch_across_clients,
        paused: () => isPaused(broker).catch(() => false),
        criticalServices: config.processing.critical_services,
        patterns: opts.patterns,
        log,
        onAnalysis: (inc, analysis) => cache.set(inc.fingerprint, analysis),
      });
  if (offline) log.warn("analyzer in offline mode: no Claude API key, rules and cache only");
  const pipeline = new Pipeline({
    broker,
    config,
    patterns: opts.patterns,
    log,
    cache,
    stats,
    batcher,
    ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
  });

  const counts = { acked: 0, dead_lettered: 0, failed: 0 };
  let inflight = 0;
  // Entries being worked on in this process, with the consumer whose PEL holds each. An entry that
  // waits long for a batch or for budget looks idle to the group, so every such entry is touched
  // (below) for as long as it is in flight. Should one still be claimed by a consumer of this
  // process (a touch failed), the work in progress keeps it and will ack it; the claimer only
  // becomes the consumer that touches it.
  const held = new Map<string, string>();
  let stopping = false;
  let paused = false;
  const maxInflight = opts.maxInflight ?? 64;
  const maxDeliveries = config.processing.max_deliveries;
  const claimIdleMs = config.processing.claim_idle_ms;
  const prefix = opts.consumerPrefix ?? `analyzer-${hostname()}-${process.pid}`;

  // The pause flag, read at most every 250 ms however many entries ask.
  let pauseRead: { at: number; p: Promise<boolean> } | null = null;
  const pausedNow = (): Promise<boolean> => {
    if (!pauseRead || performance.now() - pauseRead.at > 250)
      pauseRead = { at: performance.now(), p: isPaused(broker).catch(() => false) };
    return pauseRead.p;
  };

  async function deliver(consumer: string, entry: Delivery): Promise<void> {
    // A pause holds at once: entries already read wait here (kept alive as held) until resume.
    while (!stopping && (await pausedNow())) await Bun.sleep(250);
    if (stopping) return;
    try {
      if (entry.deliveries > maxDeliveries) {
        await deadLetter(
          entry,
          `delivered ${entry.deliveries} times without success (max_deliveries ${maxDeliveries})`,
        );
        return;
      }
      await pipeline.handle(entry);
      await broker.ack(stream, group, [entry.id]);
      pipeline.forget(entry.id);
      counts.acked++;
    } catch (err) {
      counts.failed++;
      const permanent = isMcpError(err) && !err.retryable && err.code === "VALIDATION";
      if (permanent || entry.deliveries >= maxDeliveries) {
        await deadLetter(
          entry,
          `${permanent ? "invalid entry" : `failed ${entry.deliveries} times`}: ${errorMessage(err)}`,
        ).catch((e) =>
          log.error(
            { err: errorMessage(e), entry: entry.id },
            "dead-lettering failed; the entry stays pending",
          ),
        );
      } else {
        // Left pending: claimIdle hands it to a consumer (maybe this one) after claim_idle_ms.
        log.warn(
          { consumer, entry: entry.id, deliveries: entry.deliveries, err: errorMessage(err) },
          "analysis failed; entry stays pending",
        );
      }
    }
  }

  async function deadLetter(entry: Delivery, reason: string): Promise<void> {
    await broker.deadLetter(stream, group, entry, reason);
    counts.dead_lettered++;
    log.error({ entry: entry.id, reason }, "entry moved to the dead-letter stream");
    // The incident this entry was analysing must not stay `analyzing` forever. The pipeline knows
    // it only for entries handled in this process: one that killed its consumer on every delivery
    // reaches a new process with deliveries > max_deliveries and is dead-lettered before handle().
    const incident = pipeline.incidentOf(entry.id) ?? (await incidentFromMark(entry));
    if (incident)
      await recordDeadLetter(broker, incident, reason).catch((err) =>
        log.warn(
          { entry: entry.id, incident, err: errorMessage(err) },
          "moving the incident to needs_human failed",
        ),
      );
    pipeline.forget(entry.id);
  }

  /** The incident an entry's event was counted into, from the mark written with the count. */
  async function incidentFromMark(entry: Delivery): Promise<string | undefined> {
    let eventId: string;
    try {
      eventId = pipeline.decode(entry).event_id;
    } catch {
      log.warn({ entry: entry.id }, "dead-lettered entry is not an error event: no incident to update");
      return undefined;
    }
    const incident = await markedIncident(broker, eventId).catch((err) => {
      log.warn({ entry: entry.id, err: errorMessage(err) }, "reading the event's mark failed");
      return null;
    });
    // No mark: the event was never counted, so no incident waits on it. Nothing to compute here
    // (fingerprinting a poison entry again is what may have killed the consumers).
    if (!incident) log.warn({ entry: entry.id, event_id: eventId }, "dead-lettered event was never counted");
    return incident ?? undefined;
  }

  const loops: Promise<void>[] = [];
  const waiters: Array<() => void> = [];
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  const room = async (perConsumer: { n: number }) => {
    while (!stopping && perConsumer.n >= maxInflight) await new Promise<void>((r) => waiters.push(r));
  };

  const recreateGroup = (consumer: string, err: unknown) =>
    recreateMissingGroup(broker, stream, group, consumer, err, log);

  async function consume(consumer: string): Promise<void> {
    const mine = { n: 0 };
    const track = async (entries: Delivery[]) => {
      for (const e of entries) {
        if (held.has(e.id)) {
          held.set(e.id, consumer);
          continue;
        }
        await room(mine);
        if (stopping) return;
        mine.n++;
        inflight++;
        held.set(e.id, consumer);
        void deliver(consumer, e).finally(() => {
          held.delete(e.id);
          mine.n--;
          inflight--;
          wake();
        });
      }
    };
    // Own pending entries first: what a previous run under this name left unfinished. Inside the
    // retry loop, so a broker that is down or a lost group at this point only delays it.
    const resume = async () => {
      for (let round = 0; round < 100 && !stopping; round++) {
        const own = await broker.readGroup(stream, group, consumer, { from: "0", count: 100 });
        if (own.length === 0) break;
        await track(own);
        while (!stopping && mine.n > 0) await new Promise<void>((r) => waiters.push(r));
      }
    };
    let resumed = false;
    let lastClaim = 0;
    while (!stopping) {
      try {
        if (!resumed) {
          await resume();
          resumed = true;
          continue;
        }
        paused = await isPaused(broker);
        if (paused) {
          await Bun.sleep(1_000);
          continue;
        }
        await room(mine);
        if (stopping) break;
        if (Date.now() - lastClaim >= Math.min(claimIdleMs, 5_000)) {
          lastClaim = Date.now();
          const claimed = await broker.claimIdle(stream, group, consumer, claimIdleMs, {
            count: Math.max(1, maxInflight - mine.n),
          });
          await track(claimed.entries);
        }
        const entries = await broker.readGroup(stream, group, consumer, {
          count: Math.max(1, Math.min(100, maxInflight - mine.n)),
          blockMs: 500,
        });
        await track(entries);
      } catch (err) {
        if (stopping) break;
        if (await recreateGroup(consumer, err)) continue;
        log.error({ consumer, err: errorMessage(err) }, "analyzer read failed; retrying");
        await Bun.sleep(1_000);
      }
    }
    while (mine.n > 0) await new Promise<void>((r) => waiters.push(r));
  }

  // Without this, an entry waiting for a batch or for budget longer than claim_idle_ms is claimed
  // by another process, which asks Claude about it again. Touching resets its idle time without
  // counting a delivery; a process that dies stops touching, and its entries are claimed as before.
  let touching = false;
  const touchAll = async () => {
    const byConsumer = new Map<string, string[]>();
    for (const [id, consumer] of held) {
      const ids = byConsumer.get(consumer) ?? [];
      ids.push(id);
      byConsumer.set(consumer, ids);
    }
    for (const [consumer, ids] of byConsumer)
      await broker
        .touch(stream, group, consumer, ids)
        .catch((err) =>
          log.warn(
            { consumer, entries: ids.length, err: errorMessage(err) },
            "touching in-flight entries failed",
          ),
        );
  };
  const toucher = setInterval(
    () => {
      if (touching || held.size === 0) return;
      touching = true;
      void touchAll().finally(() => {
        touching = false;
      });
    },
    Math.max(50, Math.floor(claimIdleMs / 3)),
  );

  for (let i = 0; i < config.processing.error_processors; i++) loops.push(consume(`${prefix}-${i}`));
  const saver = setInterval(() => void pipeline.saveTemplates().catch(() => {}), 5_000);
  const stopTrimmer = startTrimmer(broker, stream, {
    log,
    group,
    ...(opts.trimEveryMs ? { everyMs: opts.trimEveryMs } : {}),
    ...(opts.trimKeep !== undefined ? { keep: opts.trimKeep } : {}),
  });
  log.info({ consumers: config.processing.error_processors, offline, prefix }, "analyzers started");

  return {
    async stop() {
      if (stopping) return;
      stopping = true;
      clearInterval(saver);
      stopTrimmer();
      batcher?.stop();
      wake();
      await Promise.all(loops);
      // Only now: entries finishing during the stop are still ours until acked.
      clearInterval(toucher);
      await pipeline.saveTemplates().catch(() => {});
      await stats.flush().catch(() => {});
      // Gone for good: XINFO CONSUMERS should list the live ones (a consumer still holding
      // entries stays, so that a restart under the same prefix or another claimer finishes them).
      const names = Array.from({ length: config.processing.error_processors }, (_, i) => `${prefix}-${i}`);
      await broker.removeConsumers(stream, group, { names }).catch(() => {});
    },
    stats: () => ({
      ...pipeline.counters,
      ...counts,
      consumers: config.processing.error_processors,
      inflight,
      batch_waiting: batcher?.waiting ?? 0,
      claude_requests: batcher?.requests ?? 0,
      offline,
      paused,
    }),
  };
}
