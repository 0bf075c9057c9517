import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { recreateMissingGroup } from "../broker/consumer-group.ts";
import { GROUPS } from "../broker/keys.ts";
import { startTrimmer } from "../broker/trimmer.ts";
import type { Broker, Delivery } from "../broker/types.ts";
import type { CentralConfig } from "../core/config/central.ts";
import { errorMessage, McpError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import type { ServicePatterns } from "../core/patterns/load.ts";
import type { ClientRecord } from "../core/schemas/client.ts";
import { decode } from "../core/schemas/codec.ts";
import { type Fix, FixMessage } from "../core/schemas/fix.ts";
import { leaseTimes } from "./lease.ts";
import { runFix } from "./runner.ts";
import { startSweeper } from "./sweeper.ts";
import { createLocalTransport } from "./transport/local.ts";
import { createSshTransport } from "./transport/ssh.ts";
import type { Transport } from "./transport/types.ts";

export interface ExecutorsOptions {
  broker: Broker;
  config: CentralConfig;
  patterns: Map<string, ServicePatterns>;
  /** Override transport resolution (tests, `mcpmon all`): a transport for the fix's target. */
  transports?: (fix: Fix) => Transport | Promise<Transport>;
  log: Logger;
  /** Client's `backup_enabled`; default: back up the service's config files for every client. */
  backupConfigFiles?: (clientId: string) => boolean;
  /** Consumer name prefix; default `exec-<hostname>-<pid>`. Each consumer appends `-<n>`. */
  name?: string;
  /** How long one blocking read waits (default 1000 ms); bounds how fast stop() returns. */
  blockMs?: number;
  /** How often acknowledged entries of mcp:fixes are trimmed (default 30 s). */
  trimEveryMs?: number;
  /** Newest entries the trim always keeps (default DEFAULT_TRIM_KEEP). */
  trimKeep?: number;
  /** How often the sweeper runs (default executor.sweep_every_s). */
  sweepEveryMs?: number;
}

/**
 * Start `processing.fix_executors` consumers of `mcp:fixes` in the group `executors`. Each first
 * finishes its own pending entries, then takes over entries idle longer than `claim_idle_ms`
 * (their consumer died) and reads new ones. An entry is acked only after the fix record's final
 * state is written; after `max_deliveries` an entry that never reached one goes to `mcp:dlq`.
 * A lost group (Redis restarted without persistence) is recreated; acknowledged entries are
 * trimmed from the stream every `trimEveryMs`.
 *
 * @example const ex = await startExecutors({ broker, config, patterns: loadPatternsDir(), log }); … await ex.stop();
 */
export async function startExecutors(o: ExecutorsOptions): Promise<{ stop(): Promise<void> }> {
  const { broker, config, log } = o;
  const stream = broker.keys.fixes;
  const group = GROUPS.executors;
  await broker.ensureGroup(stream, group, "0");
  const pool = new Map<string, Promise<Transport>>();
  const transportFor = o.transports ?? ((fix: Fix) => resolveTransport(broker, config, fix, pool));
  let stopped = false;
  const prefix = o.name ?? `exec-${hostname()}-${process.pid}`;
  const count = config.processing.fix_executors;
  const { claimIdleMs } = leaseTimes(config);

  const handle = async (consumer: string, d: Delivery) => {
    let fixId: string;
    try {
      fixId = decode(FixMessage, d.fields).fix_id;
    } catch (err) {
      await broker.deadLetter(stream, group, d, `not a fix message: ${errorMessage(err)}`);
      return;
    }
    try {
      const run = () =>
        runFix(
          {
            broker,
            config,
            patterns: o.patterns,
            transportFor,
            executorId: consumer,
            log,
            ...(o.backupConfigFiles ? { backupConfigFiles: o.backupConfigFiles } : {}),
          },
          fixId,
          { deliveries: d.deliveries, maxDeliveries: config.processing.max_deliveries },
        );
      // Keep the entry ours while the fix runs, so no executor takes it over as idle.
      const keepAlive = setInterval(
        () => void broker.touch(stream, group, consumer, [d.id]).catch(() => {}),
        Math.max(100, Math.floor(claimIdleMs / 3)),
      );
      let outcome = await run().finally(() => clearInterval(keepAlive));
      // A write that raced the start (nothing ran yet): try again at once rather than after
      // claim_idle_ms, a few times.
      for (let i = 0; i < 3 && outcome.retryNow; i++) outcome = await run();
      if (outcome.ack) await broker.ack(stream, group, [d.id]);
      else if (
        d.deliveries > config.processing.max_deliveries &&
        !outcome.keep &&
        outcome.reason !== "running elsewhere"
      )
        await broker.deadLetter(
          stream,
          group,
          d,
          `fix ${fixId}: ${outcome.reason ?? "no final state"} after ${d.deliveries} deliveries`,
        );
      log.debug({ fix_id: fixId, consumer, ...outcome }, "fix entry handled");
    } catch (err) {
      // Broker trouble or a bug: the entry stays pending and is claimed again after claim_idle_ms.
      log.error({ fix_id: fixId, consumer, err: errorMessage(err) }, "fix run failed unexpectedly");
      if (d.deliveries >= config.processing.max_deliveries)
        await broker.deadLetter(stream, group, d, `fix ${fixId}: ${errorMessage(err)}`).catch(() => {});
    }
  };

  const recreateGroup = (consumer: string, err: unknown) =>
    recreateMissingGroup(broker, stream, group, consumer, err, log);

  const loop = async (consumer: string) => {
    let resumed = false;
    while (!stopped) {
      try {
        if (!resumed) {
          // What this consumer name left pending in an earlier life; inside the retry loop, so a
          // broker that is down or a lost group at start-up only delays it.
          for (const d of await broker.readGroup(stream, group, consumer, { from: "0", count: 100 }))
            await handle(consumer, d);
          resumed = true;
        }
        const claimed = await broker.claimIdle(stream, group, consumer, claimIdleMs, {
          count: 1,
        });
        for (const d of claimed.entries) await handle(consumer, d);
        if (stopped) break;
        const fresh = await broker.readGroup(stream, group, consumer, {
          count: 1,
          blockMs: o.blockMs ?? 1000,
        });
        for (const d of fresh) await handle(consumer, d);
      } catch (err) {
        if (stopped) break;
        if (await recreateGroup(consumer, err)) continue;
        log.error({ consumer, err: errorMessage(err) }, "executor read failed; retrying");
        await Bun.sleep(500);
      }
    }
  };

  const loops = Array.from({ length: count }, (_, i) => loop(`${prefix}-${i}`));
  const stopTrimmer = startTrimmer(broker, stream, {
    log,
    group,
    ...(o.trimEveryMs ? { everyMs: o.trimEveryMs } : {}),
    ...(o.trimKeep !== undefined ? { keep: o.trimKeep } : {}),
  });
  const stopSweeper = startSweeper(broker, {
    everyMs: o.sweepEveryMs ?? config.executor.sweep_every_s * 1000,
    graceMs: config.executor.sweep_after_s * 1000,
    log,
  });
  log.info({ consumers: count, prefix }, "executors started");
  return {
    async stop() {
      stopped = true;
      stopTrimmer();
      stopSweeper();
      await Promise.allSettled(loops);
      // As the analyzers: consumers that stopped cleanly leave XINFO CONSUMERS (unless they hold entries).
      const names = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
      await broker.removeConsumers(stream, group, { names }).catch(() => {});
      for (const t of pool.values()) await t.then((x) => x.close()).catch(() => {});
      pool.clear();
    },
  };
}

/**
 * The transport for a fix's client: `targets[client_id]` when configured, else SSH to the
 * registered client record's host with `ssh_settings`; never the fix's own `host` field. One
 * pooled transport per client.
 */
export function resolveTransport(
  broker: Broker,
  config: CentralConfig,
  fix: Fix,
  pool: Map<string, Promise<Transport>>,
): Promise<Transport> {
  let t = pool.get(fix.client_id);
  if (!t) {
    t = (async () => {
      const s = config.ssh_settings;
      const target = config.targets[fix.client_id];
      if (target?.transport === "local")
        return createLocalTransport({ defaultTimeoutMs: s.command_timeout * 1000 });
      const client = target?.host ? null : await broker.getRecord<ClientRecord>("client", fix.client_id);
      // Only a configured target or a registered client's host: a fix's `host` came from an event,
      // which a reporter token writes, and must never choose where commands run.
      const host = target?.host ?? client?.value.host;
      if (!host)
        throw new McpError(
          "NOT_FOUND",
          `client "${fix.client_id}" has no target (targets.${fix.client_id}) and is not registered; the fix runs nowhere`,
        );
      return createSshTransport({
        host,
        port: target?.port ?? 22,
        user: target?.user ?? s.user,
        privateKey: readFileSync(s.private_key_path),
        ...(target?.host_key ? { hostKey: target.host_key } : {}),
        knownHostsFile: s.known_hosts,
        trustOnFirstUse: s.trust_on_first_use,
        maxConnections: s.max_connections_per_client,
        connectTimeoutMs: s.connection_timeout * 1000,
        commandTimeoutMs: s.command_timeout * 1000,
        sudo: s.sudo,
      });
    })();
    // A failed resolution (missing key file) is not cached: the next fix tries again.
    t.catch(() => pool.delete(fix.client_id));
    pool.set(fix.client_id, t);
  }
  return t;
}
