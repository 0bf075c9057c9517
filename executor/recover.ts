import type { CentralConfig } from "../core/config/central.ts";
import { errorMessage } from "../core/errors.ts";
import type { ServicePatterns } from "../core/patterns/load.ts";
import type { Fix } from "../core/schemas/fix.ts";
import { FencedOut, FixAudit } from "./audit.ts";
import { backupDir, readManifest } from "./backup.ts";
import { guardOf, stopLost } from "./guard.ts";
import { LeaseLost, leaseTimes, RunLease } from "./lease.ts";
import { finish, rollBack } from "./outcome.ts";
import type { RunnerDeps, RunOutcome } from "./runner.ts";
import type { StepContext } from "./steps.ts";

/**
 * How long past its last check a step of a lost run can still be changing the host: its timeout
 * (the host's `timeout -k 5` kills it 5 s after), plus slack for the command to have started.
 */
const KILL_GRACE_MS = 7_000;

/**
 * A fix found `executing` whose run holds no lease any more: its executor died or lost its lease
 * mid-run. It is never run again; whatever it may have changed is undone from the backup manifest
 * it left on the host. The record's compare-and-set makes this executor the owner first (the
 * lost run's next fenced write fails); then it waits until any step the lost run had started
 * must have ended (its timeout, which the host enforces, plus a grace) before touching the host.
 */
export async function recover(deps: RunnerDeps, version: number, fix: Fix): Promise<RunOutcome> {
  const token = (fix.run?.token ?? 0) + 1;
  const leaseMs = deps.leaseMs ?? leaseTimes(deps.config).leaseMs;
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
    // The lost run fenced (wrote updated_at) right before each step it started: only what may
    // remain of that last step is waited out.
    const wait = Math.max(0, Date.parse(fix.updated_at) + drainMs(deps.config, fix, service) - Date.now());
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
