/**
 * The write tools, offered only when `mcp.allow_writes: true` and to a token whose role includes
 * operator (api/auth.ts decides, as for the REST routes). Each calls the same service function as
 * its REST route, so the rules (only awaiting_approval fixes, no ignoring an executing incident,
 * the approver's name on the fix) hold here too; each call, refused or not, is audited in
 * `mcp:events` as `mcp.tool` with the token's name.
 *
 * Annotations per the spec: approve_fix lets commands run on a host (destructive, open world);
 * reject and ignore end automation for an incident (destructive); pause and resume are undone by
 * each other. All are idempotent: a repeated call changes nothing more (a second approval is
 * refused with 409 conflict).
 */
import * as v from "valibot";
import { obj, type ToolDef, tool } from "./tool-kit.ts";

const Id = (what: string) => v.pipe(v.string(), v.minLength(1), v.maxLength(200), v.description(what));
const fixOut = obj(
  { fix_id: { type: "string" }, status: { type: "string" }, incident_id: { type: "string" } },
  ["fix_id", "status"],
);

export const WRITE_TOOLS: ToolDef[] = [
  tool({
    name: "approve_fix",
    title: "Approve a fix",
    description:
      "Approve a fix that is awaiting_approval: it is queued for the executors, which check the policy and this approval again and then run its actions on the host (with backup, verify and rollback). Read it first with get_fix. Refused (409) when the fix is not awaiting approval.",
    input: v.strictObject({
      id: Id("fix id"),
      note: v.optional(v.pipe(v.string(), v.maxLength(2000), v.description("why; kept on the fix"))),
    }),
    output: fixOut,
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
    role: "operator",
    write: true,
    run: async ({ id, note }, { backend }) => ({ ...(await backend.approveFix(id, note)) }),
  }),
  tool({
    name: "reject_fix",
    title: "Reject a fix",
    description:
      "Reject a fix that is awaiting_approval, with a reason; its incident goes to needs_human. Refused (409) when the fix is not awaiting approval.",
    input: v.strictObject({
      id: Id("fix id"),
      reason: v.pipe(v.string(), v.minLength(1), v.maxLength(2000), v.description("why it must not run")),
    }),
    output: fixOut,
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    role: "operator",
    write: true,
    run: async ({ id, reason }, { backend }) => ({ ...(await backend.rejectFix(id, reason)) }),
  }),
  tool({
    name: "ignore_incident",
    title: "Ignore an incident",
    description:
      "Mark an incident ignored: its events are still counted, nothing is analysed or fixed for it automatically. Refused (409) while a fix of it is executing.",
    input: v.strictObject({
      id: Id("incident id"),
      reason: v.optional(v.pipe(v.string(), v.maxLength(2000), v.description("why, e.g. known noise"))),
    }),
    output: obj({ incident_id: { type: "string" }, status: { type: "string" } }, ["incident_id", "status"]),
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    role: "operator",
    write: true,
    run: async ({ id, reason }, { backend }) => ({ ...(await backend.ignoreIncident(id, reason)) }),
  }),
  tool({
    name: "pause_processing",
    title: "Pause processing",
    description:
      "Pause every analyzer and executor (they stop taking new work; errors wait in mcp:errors). Undo with resume_processing.",
    input: v.strictObject({}),
    output: obj({ paused: { type: "boolean" } }, ["paused"]),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    role: "operator",
    write: true,
    run: async (_a, { backend }) => backend.setPaused(true),
  }),
  tool({
    name: "resume_processing",
    title: "Resume processing",
    description: "Resume analyzers and executors after pause_processing.",
    input: v.strictObject({}),
    output: obj({ paused: { type: "boolean" } }, ["paused"]),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    role: "operator",
    write: true,
    run: async (_a, { backend }) => backend.setPaused(false),
  }),
];
