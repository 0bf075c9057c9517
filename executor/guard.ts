/** Lease and fencing glue of a run: the check before every step on the host, and a lost lease. */
import type { FixAudit } from "./audit.ts";
import type { LeaseLost, RunLease } from "./lease.ts";
import type { RunnerDeps, RunOutcome } from "./runner.ts";

/**
 * Before every step on the host: the lease still holds, and a fenced write proves the record
 * still names this run (FixAudit checks only after a step). Either failing stops the run.
 */
export function guardOf(lease: RunLease, audit: FixAudit): (what: string) => Promise<void> {
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
export async function stopLost(
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
