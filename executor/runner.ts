import type { Broker } from "../broker/types.ts";
import type { CentralConfig } from "../core/config/central.ts";
import { errorMessage, isMcpError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import type { ServicePatterns } from "../core/patterns/load.ts";
import { approvalReason } from "../core/policy/approval.ts";
import { checkFix } from "../core/policy/index.ts";
import { maxRisk } from "../core/schemas/actions.ts";
import type { Fix, FixStatus } from "../core/schemas/fix.ts";
import { FencedOut, FixAudit, setIncidentStatus } from "./audit.ts";
import { backup, backupDir, readManifest } from "./backup.ts";
import { guardOf, stopLost } from "./guard.ts";
import { hostRefusal, isHostRefusal } from "./hostops.ts";
import { type Change, recordIntent } from "./intent.ts";
import { LeaseLost, leaseKey, leaseTimes, RunLease } from "./lease.ts";
import { dryRun, finish, mirrorOnIncident, park, rollBack } from "./outcome.ts";
import { recover } from "./recover.ts";
import { runStep, type StepContext, serviceOp } from "./steps.ts";
import { symlinkReasons } from "./symlinks.ts";
import type { Transport } from "./transport/types.ts";

export interface RunnerDeps {
  broker: Broker;
  config: CentralConfig;
  patterns: Map<string, ServicePatterns>;
  /** The transport for a fix's target host (pooled; the runner never closes it). */
  transportFor(fix: Fix): Promise<Transport> | Transport;
  /** This consumer's name: recorded in `run.executor`. */
  executorId: string;
  log: Logger;
  /** Whether the client backs up the service's config files (client config `backup_enabled`). */
  backupConfigFiles?: (clientId: string) => boolean;
  /** Lease of a running fix; a run whose lease expired is gone. Default: leaseTimes(config). */
  leaseMs?: number;
}

/** What the worker does with the queue entry. */
export interface RunOutcome {
  /** Ack: the record's final (or parked) state is written. */
  ack: boolean;
  status?: FixStatus;
  reason?: string;
  /**
   * Not acked, and never to be dead-lettered: the fix is still `executing` and must reach a
   * recoverer (its run stopped after losing its lease), however often it was delivered.
   */
  keep?: boolean;
  /** The record changed under the start (e.g. its enqueued_at was written): read it again now. */
  retryNow?: boolean;
}

const RECORD_CHANGED = "record changed while starting; will be retried";

const DONE: FixStatus[] = [
  "fixed",
  "failed",
  "rolled_back",
  "rollback_failed",
  "rejected",
  "refused",
  "dry_run",
  "awaiting_approval",
];

/**
 * Run one fix from the queue, trusting nothing in the entry: the record is reloaded, policy and
 * approval are checked again, and the record's state machine with a fencing token decides whether
 * this executor may run it. A fix is run at most once; a run that was interrupted is undone.
 */
export async function runFix(
  deps: RunnerDeps,
  fixId: string,
  delivery: { deliveries: number; maxDeliveries: number },
): Promise<RunOutcome> {
  const { broker, config } = deps;
  const stored = await broker.getRecord<Fix>("fix", fixId);
  if (!stored) return { ack: true, reason: `no record for fix ${fixId}` };
  const fix = stored.value;
  if (DONE.includes(fix.status)) {
    // A redelivery after a run that died between the fix's final write and its incident's.
    await mirrorOnIncident(broker, fix);
    return { ack: true, status: fix.status, reason: `already ${fix.status}` };
  }
  if (fix.status === "executing") {
    // The run the record names still holds its lease: it is alive and will ack the entry itself.
    if (fix.run && (await broker.kvGet(leaseKey(fixId, fix.run))))
      return { ack: false, reason: "running elsewhere" };
    return await recover(deps, stored.version, fix);
  }
  if (fix.status !== "queued")
    return { ack: true, status: fix.status, reason: `not runnable in status ${fix.status}` };

  const service = deps.patterns.get(fix.service);
  if (!service) return await park(deps, fix, "refused", `no patterns file for service "${fix.service}"`);
  const decision = checkFix(service.spec.policy, {
    ...fix,
    claimed_risk: maxRisk(fix.risk, fix.claimed_risk ?? "low"),
  });
  if (!decision.allowed)
    return await park(
      deps,
      fix,
      "refused",
      `refused by the ${fix.service} policy: ${decision.refused.map((r) => r.reason).join("; ")}`,
    );
  const waits = approvalReason(
    { source: fix.source, risk: decision.risk, verify: fix.verify },
    config.executor,
  );
  if (waits && !fix.approval)
    return await park(deps, fix, "awaiting_approval", `${waits}, and the fix has no approval`);
  if (config.executor.dry_run || fix.dry_run) return await dryRun(deps, fix);

  // Fence: the lease first (so a recoverer never mistakes us for dead), then queued → executing.
  // The record's compare-and-set decides between two executors that start the same fix at once.
  const token = (fix.run?.token ?? 0) + 1;
  const leaseMs = deps.leaseMs ?? leaseTimes(config).leaseMs;
  const lease = await RunLease.acquire(broker, fixId, { executor: deps.executorId, token }, leaseMs);
  if (!lease) return { ack: false, reason: "running elsewhere" };
  const started = new Date().toISOString();
  const executing: Fix = {
    ...fix,
    status: "executing",
    status_reason: `run ${token} by ${deps.executorId}`,
    risk: decision.risk,
    run: { executor: deps.executorId, token, started_at: started },
    updated_at: started,
  };
  const put = await broker.putRecord("fix", fixId, executing, stored.version).catch(async (err) => {
    await lease.release();
    throw err;
  });
  if (put === null) {
    await lease.release();
    return { ack: false, reason: RECORD_CHANGED, retryNow: true };
  }
  const audit = new FixAudit(broker, fixId, token);
  try {
    return await execute(deps, executing, audit, service, delivery, guardOf(lease, audit));
  } catch (err) {
    if (err instanceof FencedOut) return { ack: false, reason: err.message };
    if (err instanceof LeaseLost) return await stopLost(deps, audit, fixId, err);
    throw err;
  } finally {
    await lease.release();
  }
}

async function execute(
  deps: RunnerDeps,
  fix: Fix,
  audit: FixAudit,
  service: ServicePatterns,
  delivery: { deliveries: number; maxDeliveries: number },
  before: (what: string) => Promise<void>,
): Promise<RunOutcome> {
  const { config } = deps;
  await audit.status("executing", `run ${audit.token} by ${deps.executorId}`);
  await setIncidentStatus(deps.broker, fix.incident_id, "executing", `fix ${fix.fix_id} started`);
  let changed = false;
  const changes: Change[] = [];
  let ctx: StepContext | undefined;
  try {
    const transport = await deps.transportFor(fix);
    ctx = { transport, service, timeoutMs: config.ssh_settings.command_timeout * 1000, before };
    const policy = service.spec.policy;
    const escapes = await symlinkReasons(policy, transport, [
      ...fix.actions.map((a) => ({ a, kind: "action" as const })),
      ...(fix.rollback ?? []).map((a) => ({ a, kind: "rollback" as const })),
      ...(fix.preconditions ?? []).map((a) => ({ a, kind: "precondition" as const })),
      ...(fix.verify ?? []).map((a) => ({ a, kind: "verify" as const })),
    ]);
    if (escapes.length)
      return await finish(deps, audit, fix, "refused", `refused on the host: ${escapes.join("; ")}`);

    for (const check of fix.preconditions ?? []) {
      const step = await runStep(ctx, check, "precondition");
      await audit.step(step);
      if (!step.ok)
        return await finish(
          deps,
          audit,
          fix,
          "failed",
          `precondition no longer holds, nothing changed: ${step.description}`,
        );
    }

    // A write_file writes the file its path resolves to (a symlinked config's target): that file
    // is what is backed up, and the write refuses if the path resolves elsewhere by then.
    const writeTargets = new Map<string, string>();
    for (const a of fix.actions)
      if (a.type === "write_file" && !writeTargets.has(a.path))
        writeTargets.set(a.path, await transport.realpath(a.path));
    ctx.writeTargets = writeTargets;
    const targets = [...writeTargets.values()];
    if (deps.backupConfigFiles?.(fix.client_id) ?? true) targets.push(...service.spec.config_files);
    const dir = backupDir(config.executor.backup_dir, fix.fix_id);
    const saved = await backup(ctx, dir, targets, (s) => audit.step(s));
    if (!saved.ok) return await finish(deps, audit, fix, "failed", "backup failed, nothing changed");

    let failure: string | undefined;
    for (const [i, action] of fix.actions.entries()) {
      // What this action may change is on the record before it runs: a run that dies from here
      // on leaves a recoverer what it needs to undo it.
      changes.push(await recordIntent(ctx, audit, i, action));
      changed = true;
      const step = await runStep(ctx, action, "action");
      await audit.step(step);
      // The helper refuses before it changes anything: as the first action, nothing changed.
      if (!step.ok && i === 0 && isHostRefusal(step))
        return await finish(deps, audit, fix, "refused", `refused on the host: ${hostRefusal(step)}`);
      if (!step.ok) {
        failure = `action failed: ${step.description}`;
        break;
      }
    }
    if (!failure)
      for (const check of fix.verify ?? []) {
        const step = await runStep(ctx, check, "verify");
        await audit.step(step);
        if (!step.ok) {
          failure = `verify failed: ${step.description}`;
          break;
        }
      }
    if (!failure && service.spec.service_ops.validate) {
      const step = await serviceOp(ctx, "validate", "validate");
      await audit.step(step);
      if (!step.ok) failure = `validation failed: ${step.description}`;
    }
    if (!failure)
      return await finish(deps, audit, fix, "fixed", `${fix.actions.length} action(s) applied and verified`);
    return await rollBack(deps, audit, { ...fix, changes }, ctx, saved.entries, failure);
  } catch (err) {
    if (err instanceof FencedOut || err instanceof LeaseLost) throw err;
    const reason = errorMessage(err);
    // Nothing changed on the host yet and the error may pass (sshd restarting): let the queue retry.
    if (!changed && isMcpError(err) && err.retryable && delivery.deliveries < delivery.maxDeliveries) {
      await audit.status(
        "queued",
        `attempt ${delivery.deliveries} of ${delivery.maxDeliveries} failed, will retry: ${reason}`,
        { run: fix.run },
      );
      await setIncidentStatus(
        deps.broker,
        fix.incident_id,
        "queued",
        `fix ${fix.fix_id} will be retried: ${reason}`,
      );
      return { ack: false, status: "queued", reason };
    }
    if (changed && ctx) {
      const entries = await readManifest(
        ctx.transport,
        backupDir(config.executor.backup_dir, fix.fix_id),
      ).catch(() => null);
      return await rollBack(
        deps,
        audit,
        { ...fix, changes },
        ctx,
        entries ?? [],
        `error while running: ${reason}`,
      ).catch(async (e) => {
        // A lost run must not write a final state: the fix would never be rolled back.
        if (e instanceof FencedOut || e instanceof LeaseLost) throw e;
        return finish(deps, audit, fix, "failed", `error while running, rollback impossible: ${reason}`);
      });
    }
    return await finish(deps, audit, fix, "failed", reason);
  }
}
