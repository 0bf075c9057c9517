/**
 * Proposals become fix records. The service's policy (core/policy, the same pure checker the
 * executor enforces) decides: anything refused is never queued and the incident goes to a human
 * with the refused action named; otherwise the effective risk decides `queued` (auto-approved,
 * put on mcp:fixes) or `awaiting_approval`. The fix id is stable per (incident, analysis round)
 * and created with compare-and-set on version 0, so a redelivered event never makes two fixes.
 */
import { ensureEnqueued } from "../broker/records.ts";
import type { Broker } from "../broker/types.ts";
import type { ServicePatterns } from "../core/patterns/index.ts";
import { type ApprovalSettings, approvalReason } from "../core/policy/approval.ts";
import { checkFix, describeAction } from "../core/policy/index.ts";
import { maxRisk, type Risk } from "../core/schemas/actions.ts";
import type { Fix, FixStatus } from "../core/schemas/fix.ts";
import type { Incident, IncidentStatus } from "../core/schemas/incident.ts";
import { changeStatus, fixIdFor } from "./incidents.ts";
import type { Proposal } from "./types.ts";

// Defence in depth beside the policy: the executor quotes every argument, but an argument that
// carries shell syntax means the proposer tried something, and a human should see it.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we refuse
const SHELLISH = /[;&|`$<>\u0000-\u001f\u007f]|\$\(/;

export interface ProposalContext {
  broker: Broker;
  patterns: Map<string, ServicePatterns>;
  /** executor.auto_approve_max_risk (rule fixes) and auto_approve_model_max_risk (Claude's). */
  approval: ApprovalSettings;
}

export interface ProposalResult {
  fix: Fix | null;
  incident: Incident | null;
  status: IncidentStatus;
}

/** Turn a proposal into a fix record and move the incident on; returns what happened. */
export async function submitProposal(
  ctx: ProposalContext,
  incident: Incident,
  proposal: Proposal,
): Promise<ProposalResult> {
  const round = incident.regressions ?? 0;
  const sp = ctx.patterns.get(incident.service);
  const refusals: string[] = [];
  if (proposal.actions.length === 0) {
    const inc = await toHuman(
      ctx.broker,
      incident,
      `the ${proposal.source} analysis proposes no safe action: ${proposal.diagnosis}`,
      proposal,
    );
    return { fix: null, incident: inc, status: "needs_human" };
  }
  let risk: Risk = maxRisk(proposal.risk);
  if (!sp) {
    refusals.push(`no patterns file (and so no policy) for service ${incident.service}`);
  } else {
    const decision = checkFix(sp.spec.policy, {
      actions: proposal.actions,
      preconditions: proposal.preconditions,
      verify: proposal.verify,
      rollback: proposal.rollback,
      claimed_risk: proposal.risk,
    });
    risk = maxRisk(decision.risk, proposal.risk);
    for (const r of decision.refused)
      refusals.push(r.reason ?? `${r.kind} ${describeAction(r.action)} refused`);
  }
  for (const a of [
    ...proposal.actions,
    ...proposal.rollback,
    ...proposal.preconditions,
    ...proposal.verify,
  ]) {
    const strings = a.type === "run" ? [a.program, ...a.args] : a.type === "write_file" ? [a.path] : [];
    const bad = strings.find((s) => SHELLISH.test(s));
    if (bad !== undefined) refusals.push(`${describeAction(a)}: shell syntax in ${JSON.stringify(bad)}`);
  }

  const waits = approvalReason({ source: proposal.source, risk, verify: proposal.verify }, ctx.approval);
  const status: FixStatus = refusals.length > 0 ? "refused" : waits ? "awaiting_approval" : "queued";
  const now = new Date().toISOString();
  const fixId = fixIdFor(incident);
  const fix: Fix = {
    v: 1,
    fix_id: fixId,
    incident_id: incident.incident_id,
    client_id: incident.client_ids[0] ?? "unknown",
    host: incident.hosts[0] ?? "unknown",
    service: incident.service,
    source: proposal.source,
    diagnosis: proposal.diagnosis,
    ...(proposal.root_cause !== undefined ? { root_cause: proposal.root_cause } : {}),
    ...(proposal.confidence !== undefined ? { confidence: proposal.confidence } : {}),
    risk,
    claimed_risk: proposal.risk,
    actions: proposal.actions,
    preconditions: proposal.preconditions,
    verify: proposal.verify,
    rollback: proposal.rollback,
    status,
    ...(refusals.length ? { status_reason: `refused by policy: ${refusals.join("; ")}` } : {}),
    dry_run: false,
    steps: [],
    created_at: now,
    updated_at: now,
  };
  const created = (await ctx.broker.putRecord("fix", fixId, fix, 0)) !== null;
  // A redelivery (or a second worker racing on the same round) finds the first fix and follows it.
  const stored = created ? fix : ((await ctx.broker.getRecord<Fix>("fix", fixId))?.value ?? fix);

  const target: IncidentStatus =
    stored.status === "refused" ? "needs_human" : stored.status === "queued" ? "queued" : "awaiting_approval";
  const reason =
    target === "needs_human"
      ? `fix ${fixId} refused: ${stored.status_reason ?? "by policy"}`
      : target === "awaiting_approval"
        ? `fix ${fixId} (risk ${stored.risk}) waits for an operator: ${waits ?? "approval needed"}`
        : undefined;
  const inc = await changeStatus(ctx.broker, incident.incident_id, {
    round,
    from: ["analyzing"],
    to: [
      { status: "proposed", reason: `${stored.source} proposal ${fixId}` },
      { status: target, ...(reason ? { reason } : {}) },
    ],
    patch: (i) => {
      if (!i.fix_ids?.includes(fixId)) i.fix_ids = [...(i.fix_ids ?? []), fixId];
      i.analysis_source = stored.source === "manual" ? "none" : stored.source;
      i.diagnosis = stored.diagnosis;
    },
  });
  // Enqueue whenever the fix is queued and not yet enqueued (recorded on the fix): the first time,
  // or a redelivery after a crash or a failed append anywhere after the fix write. At least once:
  // the executor loads the fix record by id and fences runs, so a duplicate entry cannot run it twice.
  if (stored.status === "queued") await ensureEnqueued(ctx.broker, stored.fix_id);
  return { fix: stored, incident: inc, status: target };
}

/** Send an incident still being analysed to a human, saying why. */
export async function toHuman(
  broker: Broker,
  incident: Incident,
  reason: string,
  analysis?: { source: Proposal["source"] | "none"; diagnosis?: string },
): Promise<Incident | null> {
  return changeStatus(broker, incident.incident_id, {
    round: incident.regressions ?? 0,
    from: ["analyzing", "new"],
    to: [{ status: "needs_human", reason }],
    patch: (i) => {
      if (analysis) i.analysis_source = analysis.source;
      if (analysis?.diagnosis) i.diagnosis = analysis.diagnosis;
    },
  });
}
