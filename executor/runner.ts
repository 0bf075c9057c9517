import { publishEvent } from "../broker/records.ts";
import type { Broker } from "../broker/types.ts";
import type { CentralConfig } from "../core/config/central.ts";
import { errorMessage, isMcpError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import type { ServicePatterns } from "../core/patterns/load.ts";
import { checkFix, describeAction, needsApproval } from "../core/policy/index.ts";
import { maxRisk } from "../core/schemas/actions.ts";
import type { Fix, FixStatus } from "../core/schemas/fix.ts";
import type { IncidentStatus } from "../core/schemas/incident.ts";
import { FencedOut, FixAudit, setFixStatus, setIncidentStatus } from "./audit.ts";
import {
  type BackupEntry,
  backup,
  backupDir,
  readManifest,
  restore,
  runStep,
  type StepContext,
  serviceOp,
  symlinkReasons,
} from "./steps.ts";
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
  /** Lease of a running fix; a run whose lease expired is gone. Default: processing.claim_idle_ms. */
  leaseMs?: number;
}

/** What the worker does with the queue entry. */
export interface RunOutcome {
  /** Ack: the record's final (or parked) state is written. */
  ack: boolean;
  status?: FixStatus;
  reason?: string;
}

const DONE: FixStatus[] = [
  "fixed",
  "failed",
  "rolled_back",
  "rejected",
  "refused",
  "dry_run",
  "awaiting_approval",
];
export const leaseKey = (fixId: string) => `executor:lease:${fixId}`;

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
  if (DONE.includes(fix.status)) return { ack: true, status: fix.status, reason: `already ${fix.status}` };
  if (fix.status === "executing") {
    // Another executor holds the lease: it is alive and will ack the entry itself.
    if (await broker.kvGet(leaseKey(fixId))) return { ack: false, reason: "running elsewhere" };
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
  if (needsApproval(decision.risk, config.executor.auto_approve_max_risk) && !fix.approval)
    return await park(
      deps,
      fix,
      "awaiting_approval",
      `risk ${decision.risk} is above auto_approve_max_risk ${config.executor.auto_approve_max_risk} and the fix has no approval`,
    );
  if (config.executor.dry_run || fix.dry_run) return await dryRun(deps, fix);

  // Fence: the lease first (so a recoverer never mistakes us for dead), then queued → executing.
  const token = (fix.run?.token ?? 0) + 1;
  const leaseMs = deps.leaseMs ?? config.processing.claim_idle_ms;
  if (
    !(await broker.kvSet(leaseKey(fixId), `${deps.executorId}:${token}`, { ttlMs: leaseMs, ifAbsent: true }))
  )
    return { ack: false, reason: "running elsewhere" };
  const started = new Date().toISOString();
  const executing: Fix = {
    ...fix,
    status: "executing",
    status_reason: `run ${token} by ${deps.executorId}`,
    risk: decision.risk,
    run: { executor: deps.executorId, token, started_at: started },
    updated_at: started,
  };
  if ((await broker.putRecord("fix", fixId, executing, stored.version)) === null) {
    await broker.kvDelete(leaseKey(fixId));
    return { ack: false, reason: "record changed while starting; will be retried" };
  }
  const audit = new FixAudit(broker, fixId, token);
  const stopLease = keepLease(broker, fixId, `${deps.executorId}:${token}`, leaseMs);
  try {
    return await execute(deps, executing, audit, service, delivery);
  } catch (err) {
    if (err instanceof FencedOut) return { ack: false, reason: err.message };
    throw err;
  } finally {
    stopLease();
    await broker.kvDelete(leaseKey(fixId)).catch(() => {});
  }
}

async function execute(
  deps: RunnerDeps,
  fix: Fix,
  audit: FixAudit,
  service: ServicePatterns,
  delivery: { deliveries: number; maxDeliveries: number },
): Promise<RunOutcome> {
  const { config } = deps;
  await audit.status("executing", `run ${audit.token} by ${deps.executorId}`);
  await setIncidentStatus(deps.broker, fix.incident_id, "executing", `fix ${fix.fix_id} started`);
  let changed = false;
  let ctx: StepContext | undefined;
  try {
    const transport = await deps.transportFor(fix);
    ctx = { transport, service, timeoutMs: config.ssh_settings.command_timeout * 1000 };
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

    const targets = fix.actions.flatMap((a) => (a.type === "write_file" ? [a.path] : []));
    if (deps.backupConfigFiles?.(fix.client_id) ?? true) targets.push(...service.spec.config_files);
    const dir = backupDir(config.executor.backup_dir, fix.fix_id);
    const saved = await backup(ctx, dir, targets, (s) => audit.step(s));
    if (!saved.ok) return await finish(deps, audit, fix, "failed", "backup failed, nothing changed");

    let failure: string | undefined;
    for (const action of fix.actions) {
      changed = true;
      const step = await runStep(ctx, action, "action");
      await audit.step(step);
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
    return await rollBack(deps, audit, fix, ctx, saved.entries, failure);
  } catch (err) {
    if (err instanceof FencedOut) throw err;
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
      return await rollBack(deps, audit, fix, ctx, entries ?? [], `error while running: ${reason}`).catch(
        async () => finish(deps, audit, fix, "failed", `error while running, rollback impossible: ${reason}`),
      );
    }
    return await finish(deps, audit, fix, "failed", reason);
  }
}

/** Restore backups, run the rollback actions (policy-checked with the fix), validate again. */
async function rollBack(
  deps: RunnerDeps,
  audit: FixAudit,
  fix: Fix,
  ctx: StepContext,
  entries: BackupEntry[],
  why: string,
): Promise<RunOutcome> {
  let ok = true;
  for (const step of await restore(ctx, entries)) {
    await audit.step(step);
    ok &&= step.ok;
  }
  for (const action of fix.rollback ?? []) {
    const step = await runStep(ctx, action, "rollback");
    await audit.step(step);
    ok &&= step.ok;
  }
  if (ctx.service.spec.service_ops.validate) {
    const step = await serviceOp(ctx, "validate", "validate");
    await audit.step(step);
    ok &&= step.ok;
  }
  return await finish(
    deps,
    audit,
    fix,
    ok ? "rolled_back" : "failed",
    ok ? `${why}; rolled back` : `${why}; rollback incomplete, see steps`,
  );
}

/**
 * A fix found `executing` with no live lease: its executor died mid-run. It is never run again;
 * whatever it may have changed is undone from the backup manifest it left on the host.
 */
async function recover(deps: RunnerDeps, version: number, fix: Fix): Promise<RunOutcome> {
  const token = (fix.run?.token ?? 0) + 1;
  const leaseMs = deps.leaseMs ?? deps.config.processing.claim_idle_ms;
  if (
    !(await deps.broker.kvSet(leaseKey(fix.fix_id), `${deps.executorId}:${token}`, {
      ttlMs: leaseMs,
      ifAbsent: true,
    }))
  )
    return { ack: false, reason: "being recovered elsewhere" };
  const stopLease = keepLease(deps.broker, fix.fix_id, `${deps.executorId}:${token}`, leaseMs);
  const lost = `${fix.run?.executor ?? "unknown"} (run ${fix.run?.token ?? "?"})`;
  const took = {
    ...fix,
    run: { executor: deps.executorId, token, started_at: new Date().toISOString() },
    updated_at: new Date().toISOString(),
  };
  try {
    if ((await deps.broker.putRecord("fix", fix.fix_id, took, version)) === null)
      return { ack: false, reason: "record changed during recovery" };
    const audit = new FixAudit(deps.broker, fix.fix_id, token);
    const why = `interrupted: the run of ${lost} was lost mid-fix; not re-run`;
    const service = deps.patterns.get(fix.service);
    if (!service)
      return await finish(deps, audit, took, "failed", `${why}; no patterns file to roll back with`);
    try {
      const transport = await deps.transportFor(fix);
      const ctx: StepContext = {
        transport,
        service,
        timeoutMs: deps.config.ssh_settings.command_timeout * 1000,
      };
      const entries =
        (await readManifest(transport, backupDir(deps.config.executor.backup_dir, fix.fix_id))) ?? [];
      return await rollBack(deps, audit, took, ctx, entries, why);
    } catch (err) {
      if (err instanceof FencedOut) throw err;
      return await finish(deps, audit, took, "failed", `${why}; rollback impossible: ${errorMessage(err)}`);
    }
  } catch (err) {
    if (err instanceof FencedOut) return { ack: false, reason: err.message };
    throw err;
  } finally {
    stopLease();
    await deps.broker.kvDelete(leaseKey(fix.fix_id)).catch(() => {});
  }
}

const INCIDENT_OF: Partial<Record<FixStatus, IncidentStatus>> = {
  fixed: "fixed",
  failed: "failed",
  rolled_back: "rolled_back",
  refused: "needs_human",
  awaiting_approval: "awaiting_approval",
};

async function finish(
  deps: RunnerDeps,
  audit: FixAudit,
  fix: Fix,
  status: FixStatus,
  reason: string,
): Promise<RunOutcome> {
  await audit.status(status, reason);
  const to = INCIDENT_OF[status];
  if (to) await setIncidentStatus(deps.broker, fix.incident_id, to, `fix ${fix.fix_id} ${status}: ${reason}`);
  deps.log[status === "fixed" ? "info" : "warn"]({ fix_id: fix.fix_id, status, reason }, `fix ${status}`);
  return { ack: true, status, reason };
}

/** A fix that will not run now (refused, waiting for an operator): recorded, and the entry acked. */
async function park(deps: RunnerDeps, fix: Fix, status: FixStatus, reason: string): Promise<RunOutcome> {
  if (!(await setFixStatus(deps.broker, fix.fix_id, "queued", status, reason)))
    return { ack: false, reason: "record changed; will be retried" };
  const to = INCIDENT_OF[status];
  if (to) await setIncidentStatus(deps.broker, fix.incident_id, to, `fix ${fix.fix_id} ${status}: ${reason}`);
  deps.log.warn({ fix_id: fix.fix_id, status, reason }, `fix ${status}`);
  return { ack: true, status, reason };
}

async function dryRun(deps: RunnerDeps, fix: Fix): Promise<RunOutcome> {
  const now = new Date().toISOString();
  const plan = [
    ...(fix.preconditions ?? []).map((a) => ["precondition", a] as const),
    ...fix.actions.map((a) => ["action", a] as const),
    ...(fix.verify ?? []).map((a) => ["verify", a] as const),
  ].map(([phase, a]) => ({
    phase,
    description: `plan: ${describeAction(a)}`,
    ok: true,
    started_at: now,
    duration_ms: 0,
  }));
  const stored = await deps.broker.getRecord<Fix>("fix", fix.fix_id);
  if (stored?.value.status !== "queued") return { ack: false, reason: "record changed; will be retried" };
  const next: Fix = {
    ...stored!.value,
    status: "dry_run",
    status_reason: "dry run: the plan is recorded, nothing was run",
    steps: plan,
    updated_at: now,
  };
  if ((await deps.broker.putRecord("fix", fix.fix_id, next, stored.version)) === null)
    return { ack: false, reason: "record changed" };
  await publishEvent(deps.broker, {
    type: "fix.status",
    channel: "fixes",
    subject: fix.fix_id,
    data: { status: "dry_run", reason: next.status_reason, plan },
  });
  return { ack: true, status: "dry_run", reason: next.status_reason! };
}

/** Refresh the run's lease while it runs; returns the stop function. */
function keepLease(broker: Broker, fixId: string, value: string, leaseMs: number): () => void {
  const timer = setInterval(
    () => {
      broker.kvSet(leaseKey(fixId), value, { ttlMs: leaseMs }).catch(() => {});
    },
    Math.max(50, Math.floor(leaseMs / 3)),
  );
  return () => clearInterval(timer);
}
