/**
 * How a run of a fix ends: rolled back, finished, parked (refused or waiting for approval) or
 * recorded as a dry run. Shared by the run of a fix (runner.ts) and by recovery (recover.ts).
 */
import { encodeEvent } from "../broker/records.ts";
import type { Broker } from "../broker/types.ts";
import { describeAction } from "../core/policy/index.ts";
import type { Fix, FixStatus, FixStep } from "../core/schemas/fix.ts";
import type { Incident, IncidentStatus } from "../core/schemas/incident.ts";
import { type FixAudit, setFixStatus, setIncidentStatus } from "./audit.ts";
import { type BackupEntry, restore } from "./backup.ts";
import { undoChanges } from "./intent.ts";
import type { RunnerDeps, RunOutcome } from "./runner.ts";
import { runStep, type StepContext, serviceOp } from "./steps.ts";

/** Restore backups, run the rollback actions (policy-checked with the fix), validate again. */
export async function rollBack(
  deps: RunnerDeps,
  audit: FixAudit,
  fix: Fix,
  ctx: StepContext,
  entries: BackupEntry[],
  why: string,
): Promise<RunOutcome> {
  const failed: string[] = [];
  const record = async (step: FixStep) => {
    await audit.step(step);
    if (!step.ok) failed.push(step.description);
  };
  for (const step of await restore(ctx, entries)) await record(step);
  // Modes and owners recorded before each chmod/chown (the record's intents), newest first.
  for (const step of await undoChanges(ctx, fix.changes ?? [])) await record(step);
  for (const action of fix.rollback ?? []) await record(await runStep(ctx, action, "rollback"));
  if (ctx.service.spec.service_ops.validate) await record(await serviceOp(ctx, "validate", "validate"));
  // `rolled_back` only when every change was undone and checked; otherwise say what remains.
  return await finish(
    deps,
    audit,
    fix,
    failed.length === 0 ? "rolled_back" : "rollback_failed",
    failed.length === 0
      ? `${why}; rolled back`
      : `${why}; rollback incomplete, not undone: ${failed.join("; ")}`,
  );
}

const INCIDENT_OF: Partial<Record<FixStatus, IncidentStatus>> = {
  fixed: "fixed",
  failed: "failed",
  rolled_back: "rolled_back",
  rollback_failed: "needs_human",
  refused: "needs_human",
  awaiting_approval: "awaiting_approval",
};

/**
 * The second half of a run's hand-off, repeatable: when a fix has reached its final state but its
 * incident still says queued or executing (the run died between the two writes), the incident is
 * moved to match. Returns whether it had to. Called for a redelivered entry of a finished fix and
 * by the sweeper.
 */
export async function mirrorOnIncident(broker: Broker, fix: Fix): Promise<boolean> {
  const to = INCIDENT_OF[fix.status];
  if (!to || fix.status === "awaiting_approval") return false;
  const inc = await broker.getRecord<Incident>("incident", fix.incident_id);
  if (!inc || !["queued", "executing"].includes(inc.value.status)) return false;
  if (inc.value.fix_ids?.length && inc.value.fix_ids[inc.value.fix_ids.length - 1] !== fix.fix_id)
    return false;
  await setIncidentStatus(
    broker,
    fix.incident_id,
    to,
    `fix ${fix.fix_id} ${fix.status}: ${fix.status_reason ?? ""}`,
  );
  return true;
}

/** The run's final status on the fix and its incident, logged; the entry is acked. */
export async function finish(
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
export async function park(
  deps: RunnerDeps,
  fix: Fix,
  status: FixStatus,
  reason: string,
): Promise<RunOutcome> {
  if (!(await setFixStatus(deps.broker, fix.fix_id, "queued", status, reason)))
    return { ack: false, reason: "record changed; will be retried" };
  const to = INCIDENT_OF[status];
  if (to) await setIncidentStatus(deps.broker, fix.incident_id, to, `fix ${fix.fix_id} ${status}: ${reason}`);
  deps.log.warn({ fix_id: fix.fix_id, status, reason }, `fix ${status}`);
  return { ack: true, status, reason };
}

/** Record the plan of a dry run (nothing runs on the host) and ack the entry. */
export async function dryRun(deps: RunnerDeps, fix: Fix): Promise<RunOutcome> {
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
    // Whether the fix or executor.dry_run asked for it, the record says it was a dry run.
    dry_run: true,
    steps: plan,
    updated_at: now,
  };
  const event = encodeEvent({
    type: "fix.status",
    channel: "fixes",
    subject: fix.fix_id,
    data: { status: "dry_run", reason: next.status_reason, plan },
  });
  if ((await deps.broker.putRecord("fix", fix.fix_id, next, stored.version, [event])) === null)
    return { ack: false, reason: "record changed" };
  // Its incident ends too: nothing was fixed, so a person decides what to run.
  await setIncidentStatus(
    deps.broker,
    fix.incident_id,
    "needs_human",
    `fix ${fix.fix_id} was a dry run: its plan is recorded, nothing was run`,
  );
  return { ack: true, status: "dry_run", reason: next.status_reason! };
}
