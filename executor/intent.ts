import { describeAction } from "../core/policy/index.ts";
import type { Action } from "../core/schemas/actions.ts";
import type { Fix, FixStep } from "../core/schemas/fix.ts";
import type { FixAudit } from "./audit.ts";
import { restoreByPath } from "./hostops.ts";
import { byPathRoots, failedStep, type StepContext, stepFrom } from "./steps.ts";

export type Change = NonNullable<Fix["changes"]>[number];

/**
 * Record, on the fix and in the audit trail, what an action is about to change, BEFORE it runs:
 * for chmod/chown the path with its mode and owner now (what undoes it); for other actions the
 * action itself (its undo is the backup or the fix's rollback steps). Fenced like every write of
 * the run, so a lost run cannot record anything after a recoverer took over.
 */
export async function recordIntent(
  ctx: StepContext,
  audit: FixAudit,
  index: number,
  action: Action,
): Promise<Change> {
  const at = new Date().toISOString();
  let change: Change = {
    action: index,
    op: action.type === "run" ? action.program : action.type,
    path: "",
    at,
  };
  if (action.type === "run" && (action.program === "chmod" || action.program === "chown")) {
    const path = action.args?.[1] ?? "";
    const roots = byPathRoots(ctx, action) ?? [];
    const st = await ctx.transport.stat(path).catch(() => null);
    change = {
      ...change,
      path,
      roots,
      ...(st ? { before: { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid } } : {}),
    };
  } else if (action.type === "write_file") change = { ...change, path: action.path };
  else change = { ...change, path: describeAction(action) };
  await audit.intend(change);
  return change;
}

/**
 * Undo the recorded mode and owner changes, newest first, each checked after it is put back.
 * Changes without a pre-state (a write, covered by its backup; a program, covered by the fix's
 * rollback steps) are skipped here.
 */
export async function undoChanges(ctx: StepContext, changes: Change[]): Promise<FixStep[]> {
  const steps: FixStep[] = [];
  for (const c of [...changes].reverse()) {
    if (!c.before || !c.roots?.length) continue;
    const started = new Date();
    const desc = `restore mode ${c.before.mode.toString(8).padStart(4, "0")} and owner ${c.before.uid}:${c.before.gid} of ${c.path}`;
    try {
      const r = await restoreByPath(ctx.transport, {
        path: c.path,
        ...c.before,
        roots: c.roots,
        timeoutMs: ctx.timeoutMs,
      });
      steps.push(stepFrom("restore", desc, started, r, r.code === 0));
    } catch (err) {
      steps.push(failedStep("restore", desc, started, err));
    }
  }
  return steps;
}
