import { notDurable } from "../broker/redis/durability.ts";
import type { Broker } from "../broker/types.ts";
import type { ClientConfig } from "../core/config/client.ts";
import { ConfigError } from "../core/errors.ts";
import { type Logger, silentLogger } from "../core/log.ts";
import { overrideProblem } from "../core/patterns/detect.ts";
import type { ServicePatterns } from "../core/patterns/load.ts";
import { redact as coreRedact } from "../core/redact/index.ts";
import { ClientRunner, type ClientStatus, type CollectorTuning } from "./client.ts";
import { createMatcher, type Matcher } from "./match.ts";
import type { RedactFn } from "./pipeline.ts";
import { openStateDb, releaseStateDb, type StateDb } from "./spool.ts";
import { withUnmatched } from "./unmatched.ts";

export interface CollectorDeps {
  /** The broker events are shipped to: one for all configs, or one per config (by its `broker.url`). */
  broker: Broker | ((config: ClientConfig) => Broker);
  /** Every service's patterns by name (`loadPatternsDir()`); each config's `service_type` must be in it. */
  patterns: Map<string, ServicePatterns>;
  /** Default: `createMatcher(patterns)`. */
  matcher?: Matcher;
  /** Default: core/redact's `redact`. */
  redact?: RedactFn;
  log?: Logger;
  /** Reported in heartbeats. */
  version?: string;
  /** The clock of flood windows, flush timeouts and rotate waits (tests drive it). */
  now?: () => number;
  tuning?: CollectorTuning;
}

export interface CollectorStatus {
  clients: ClientStatus[];
}

export interface CollectorHandle {
  /**
   * Stop reading, commit what is complete, and give the shipper up to `drainMs` (default 2000) to
   * empty the spool; what is left is shipped at the next start. Idempotent.
   */
  stop(opts?: { drainMs?: number }): Promise<void>;
  status(): CollectorStatus;
}

/**
 * Run the collector for one or more client configs (one per service on this host) until `stop()`.
 * Resolves once every config has done its first scan and committed its start offsets, so lines
 * written after that are never missed, whatever `read_from` says.
 *
 * @example
 *   const broker = createBroker(cfg.broker.url, { prefix: cfg.broker.prefix });
 *   const c = await runCollector([cfg], { broker, patterns: loadPatternsDir(), log });
 *   process.on("SIGTERM", () => c.stop().then(() => broker.close()));
 */
export async function runCollector(configs: ClientConfig[], deps: CollectorDeps): Promise<CollectorHandle> {
  const problems = configs.flatMap((c, i) => {
    const out = [];
    if (!deps.patterns.has(c.service_type))
      out.push({
        file: `config #${i + 1}`,
        path: "service_type",
        message: `no patterns file for service "${c.service_type}"`,
      });
    const sp = deps.patterns.get(c.service_type);
    const level = sp ? overrideProblem(sp.spec.detect, c.service_type, c.detect) : null;
    if (level) out.push({ file: `config #${i + 1}`, path: "detect.min_level", message: level });
    if (configs.findIndex((o) => o.client_id === c.client_id) !== i)
      out.push({
        file: `config #${i + 1}`,
        path: "client_id",
        message: `client_id "${c.client_id}" is used twice`,
      });
    return out;
  });
  if (problems.length > 0) throw new ConfigError(problems);

  const matcher = deps.matcher ?? createMatcher(deps.patterns);
  const match = (service: string, record: string) => matcher.match(service, record);
  const mentions = (service: string, text: string) => matcher.mentions?.(service, text) ?? false;
  const redact = deps.redact ?? coreRedact;
  const log = deps.log ?? silentLogger;
  const now = deps.now ?? Date.now;
  const dbs: StateDb[] = [];
  const runners: ClientRunner[] = [];
  const asked = new Set<Broker>();
  try {
    for (const config of configs) {
      const broker = typeof deps.broker === "function" ? deps.broker(config) : deps.broker;
      if (!asked.has(broker)) await checkDurability(broker, config.broker.durable, log);
      asked.add(broker);
      const db = openStateDb(config.state_dir);
      dbs.push(db);
      const sp = deps.patterns.get(config.service_type)!;
      const runner = new ClientRunner(config, sp, db, broker, {
        // Each client may lower or raise its service's threshold, or drop unmatched records.
        match: withUnmatched(match, sp, config.detect),
        mentions,
        redact,
        log,
        now,
        version: deps.version ?? "dev",
        tuning: deps.tuning ?? {},
      });
      runner.start();
      runners.push(runner);
    }
  } catch (err) {
    await Promise.all(runners.map((r) => r.stop(0)));
    for (const db of dbs) releaseStateDb(db);
    throw err;
  }
  log.info({ clients: configs.map((c) => c.client_id) }, "collector started");

  let stopping: Promise<void> | undefined;
  return {
    stop(opts = {}) {
      stopping ??= (async () => {
        await Promise.all(runners.map((r) => r.stop(opts.drainMs ?? 2000)));
        for (const db of dbs) releaseStateDb(db);
        log.info("collector stopped");
      })();
      return stopping;
    },
    status: () => ({ clients: runners.map((r) => r.status()) }),
  };
}

/**
 * The collector drops a spooled event once the broker acknowledged it, so what the broker keeps
 * after its own restart decides what is lost. Without AOF, say so (in the background: a broker that
 * is down must not hold up the start). With broker.durable, refuse to start against a reachable
 * broker that cannot promise it; one that is down is asked again by each new append connection.
 */
async function checkDurability(broker: Broker, durable: boolean, log: Logger): Promise<void> {
  if (!broker.durability) return;
  const asked = broker.durability();
  asked.then(
    (d) => {
      if (d.warning) log.warn({ aof: d.aof, version: d.version }, d.warning);
      else if (d.required) log.info({ mode: d.mode }, "appends wait until the broker's AOF is fsynced");
    },
    () => {},
  );
  if (!durable) return;
  const d = await asked.catch(() => undefined);
  if (d?.required && d.mode === "none") throw notDurable(d);
}
