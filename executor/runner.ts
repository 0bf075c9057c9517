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
import { LeaseLost, leaseKey, RunLease } from "./lease.ts";
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

/**
 * How long past its last check a step of a lost run can still be changing the host: its timeout
 * (the host's `timeout -k 5` kills it 5 s after), plus slack for the command to have started.
 */
const KILL_GRACE_MS = 7_000;

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
  if (needsApproval(decision.risk, config.executor.auto_approve_max_risk) && !fix.approval)
    return await park(
      deps,
      fix,
      "awaiting_approval",
      `risk ${decision.risk} is above auto_approve_max_risk ${config.executor.auto_approve_max_risk} and the fix has no approval`,
    );
  if (config.executor.dry_run || fix.dry_run) return await dryRun(deps, fix);

  // Fence: the lease first (so a recoverer never mistakes us for dead), then queued → executing.
  // The record's compare-and-set decides between two executors that start the same fix at once.
  const token = (fix.run?.token ?? 0) + 1;
  const leaseMs = deps.leaseMs ?? config.processing.claim_idle_ms;
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
    return { ack: false, reason: "record changed while starting; will be retried" };
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

/**
 * Before every step on the host: the lease still holds, and a fenced write proves the record
 * still names this run (FixAudit checks only after a step). Either failing stops the run.
 */
function guardOf(lease: RunLease, audit: FixAudit): (what: string) => Promise<void> {
  return async (what) => {
    lease.check(what);
    await audit.fence();
    lease.check(what);
  };
}

/**
 * The lease was lost mid-run: this run stops where it is and leaves the entry unacked. The fix
 * stays `executing`; whoever gets the entry next finds no live lease and recovers it (rollback,
 * never a re-run) after waiting out any step that may still be running. The reason is written
 * on the record when the fence still allows it, so the record says why the run stopped.
 */
async function stopLost(
  deps: RunnerDeps,
  audit: FixAudit,
  fixId: string,
  err: LeaseLost,
): Promise<RunOutcome> {
  const reason = `run ${audit.token} by ${deps.executorId} stopped: ${err.why}; the fix will be recovered and rolled back, not re-run`;
  await audit.status("executing", reason).catch(() => {});
  deps.log.warn({ fix_id: fixId, reason }, "fix run stopped: lease lost");
  return { ack: false, reason, keep: true };
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
      return await rollBack(deps, audit, fix, ctx, entries ?? [], `error while running: ${reason}`).catch(
        async (e) => {
          // A lost run must not write a final state: the fix would never be rolled back.
          if (e instanceof FencedOut || e instanceof LeaseLost) throw e;
          return finish(deps, audit, fix, "failed", `error while running, rollback impossible: ${reason}`);
        },
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
 * A fix found `executing` whose run holds no lease any more: its executor died or lost its lease
 * mid-run. It is never run again; whatever it may have changed is undone from the backup manifest
 * it left on the host. The record's compare-and-set makes this executor the owner first (the
 * lost run's next fenced write fails); then it waits until any step the lost run had started
 * must have ended (its timeout, which the host enforces, plus a grace) before touching the host.
 */
async function recover(deps: RunnerDeps, version: number, fix: Fix): Promise<RunOutcome> {
  const token = (fix.run?.token ?? 0) + 1;
  const leaseMs = deps.leaseMs ?? deps.config.processing.claim_idle_ms;
  const lease = await RunLease.acquire(
    deps.broker,
    fix.fix_id,
    { executor: deps.executorId, token },
    leaseMs,
  );
  if (!lease) return { ack: false, reason: "being recovered elsewhere" };
  const lost = `${fix.run?.executor ?? "unknown"} (run ${fix.run?.token ?? "?"})`;
  const took = {
    ...fix,
    run: { executor: deps.executorId, token, started_at: new Date().toISOString() },
    updated_at: new Date().toISOString(),
  };
  const audit = new FixAudit(deps.broker, fix.fix_id, token);
  try {
    if ((await deps.broker.putRecord("fix", fix.fix_id, took, version)) === null)
      return { ack: false, reason: "record changed during recovery" };
    const why = `interrupted: the run of ${lost} was lost mid-fix; not re-run`;
    const service = deps.patterns.get(fix.service);
    if (!service)
      return await finish(deps, audit, took, "failed", `${why}; no patterns file to roll back with`);
    const wait = drainMs(deps.config, fix, service);
    await audit.status(
      "executing",
      `${why}; run ${token} by ${deps.executorId} rolls it back after ${Math.round(wait / 1000)} s, when any step the lost run started has ended`,
    );
    await Bun.sleep(wait);
    try {
      const transport = await deps.transportFor(fix);
      const ctx: StepContext = {
        transport,
        service,
        timeoutMs: deps.config.ssh_settings.command_timeout * 1000,
        before: guardOf(lease, audit),
      };
      const entries =
        (await readManifest(transport, backupDir(deps.config.executor.backup_dir, fix.fix_id))) ?? [];
      return await rollBack(deps, audit, took, ctx, entries, why);
    } catch (err) {
      if (err instanceof FencedOut || err instanceof LeaseLost) throw err;
      return await finish(deps, audit, took, "failed", `${why}; rollback impossible: ${errorMessage(err)}`);
    }
  } catch (err) {
    if (err instanceof FencedOut) return { ack: false, reason: err.message };
    if (err instanceof LeaseLost) return await stopLost(deps, audit, fix.fix_id, err);
    throw err;
  } finally {
    await lease.release();
  }
}

/** The longest any step of `fix` may run on the host, plus the grace after which it is killed. */
function drainMs(config: CentralConfig, fix: Fix, service: ServicePatterns): number {
  const dflt = config.ssh_settings.command_timeout * 1000;
  const steps = [
    ...fix.actions,
    ...(fix.rollback ?? []),
    ...(fix.preconditions ?? []),
    ...(fix.verify ?? []),
  ];
  const own = steps.map((a) => ("timeout_s" in a && a.timeout_s ? a.timeout_s * 1000 : dflt));
  const ops = Object.values(service.spec.service_ops).map((op) =>
    op?.timeout_s ? op.timeout_s * 1000 : dflt,
  );
  return Math.max(dflt, ...own, ...ops) + KILL_GRACE_MS;
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
