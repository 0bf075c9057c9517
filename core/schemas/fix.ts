import * as v from "valibot";
import { Action, Check, Risk } from "./actions.ts";
import { Id, IsoTime, ServiceName } from "./common.ts";

export const FixStatus = v.picklist([
  "awaiting_approval",
  "queued",
  "executing",
  "fixed",
  "failed",
  "rolled_back",
  /** The fix failed and undoing it did not fully succeed: what remains is in status_reason. */
  "rollback_failed",
  "rejected",
  "refused",
  "dry_run",
]);
export type FixStatus = v.InferOutput<typeof FixStatus>;

export const FixStep = v.object({
  phase: v.picklist(["precondition", "backup", "action", "verify", "validate", "rollback", "restore"]),
  description: v.string(),
  ok: v.boolean(),
  exit_code: v.optional(v.nullable(v.number())),
  stdout: v.optional(v.string()),
  stderr: v.optional(v.string()),
  started_at: IsoTime,
  duration_ms: v.number(),
});
export type FixStep = v.InferOutput<typeof FixStep>;

/** The stored fix record; the executor reloads it by id and never trusts the queue entry. */
export const Fix = v.object({
  v: v.optional(v.literal(1), 1),
  fix_id: Id,
  incident_id: Id,
  client_id: Id,
  host: v.string(),
  service: ServiceName,
  source: v.picklist(["rule", "cache", "claude", "manual"]),
  diagnosis: v.optional(v.string(), ""),
  root_cause: v.optional(v.string()),
  confidence: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(1))),
  /** Effective risk: the highest of the policy rules' risks and the proposal's own claim. */
  risk: Risk,
  claimed_risk: v.optional(Risk),
  actions: v.array(Action),
  preconditions: v.optional(v.array(Check), []),
  verify: v.optional(v.array(Check), []),
  rollback: v.optional(v.array(Action), []),
  status: FixStatus,
  status_reason: v.optional(v.string()),
  dry_run: v.optional(v.boolean(), false),
  approval: v.optional(v.object({ by: v.string(), at: IsoTime, note: v.optional(v.string()) })),
  rejection: v.optional(v.object({ by: v.string(), at: IsoTime, reason: v.string() })),
  /** Fencing: the executor run that owns this fix; a stale run cannot write over a newer one. */
  run: v.optional(v.object({ executor: v.string(), token: v.number(), started_at: IsoTime })),
  /**
   * When the fix was last put on mcp:fixes while queued. Cleared by nothing: a queued fix without
   * it (the append failed after the record said queued) is enqueued by whoever sees it next.
   */
  enqueued_at: v.optional(IsoTime),
  steps: v.optional(v.array(FixStep), []),
  /**
   * What each action was about to change, written (fenced) before the action ran: the path and
   * its mode and owner before. A run that dies at any point leaves enough for a recoverer to undo
   * what may have happened; rollback restores these in reverse order and checks each.
   */
  changes: v.optional(
    v.array(
      v.object({
        action: v.number(),
        op: v.string(),
        path: v.string(),
        roots: v.optional(v.array(v.string())),
        before: v.optional(v.object({ mode: v.number(), uid: v.number(), gid: v.number() })),
        at: IsoTime,
      }),
    ),
  ),
  created_at: IsoTime,
  updated_at: IsoTime,
});
export type Fix = v.InferOutput<typeof Fix>;

/** An entry of `mcp:fixes`: the fix to run. The executor loads the record by `fix_id`. */
export const FixMessage = v.object({
  v: v.optional(v.literal(1), 1),
  fix_id: Id,
  incident_id: Id,
  client_id: Id,
  risk: Risk,
  enqueued_at: IsoTime,
  approved_by: v.optional(v.string()),
});
export type FixMessage = v.InferOutput<typeof FixMessage>;
