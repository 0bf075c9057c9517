import { RISK_ORDER, type Risk } from "../schemas/actions.ts";

/** `none`: no fix of this kind runs without an operator. */
export type AutoApproveRisk = Risk | "none";

export interface ApprovalSettings {
  /** Highest risk a rule fix (a pattern's own remediation, or a manual one) may run without approval. */
  auto_approve_max_risk: AutoApproveRisk;
  /** Highest risk a fix proposed by the model (or cached from it) may run without approval. */
  auto_approve_model_max_risk: AutoApproveRisk;
}

/** Sources whose actions were written by a model: its text may have been steered by a log line. */
const MODEL_SOURCES = new Set(["claude", "cache"]);

/**
 * Why a fix must wait for an operator, or null when it may run by itself. One function for the
 * analyzer (which decides) and the executor (which enforces on the stored record). A model's
 * proposal is held to its own bound (default `none`: every one waits), and one without a verify
 * step never runs unattended: nothing would notice that it did harm.
 */
export function approvalReason(
  fix: { source: string; risk: Risk; verify?: unknown[] },
  settings: ApprovalSettings,
): string | null {
  const model = MODEL_SOURCES.has(fix.source);
  const bound = model ? settings.auto_approve_model_max_risk : settings.auto_approve_max_risk;
  const key = model ? "auto_approve_model_max_risk" : "auto_approve_max_risk";
  if (bound === "none")
    return `${key} is none: every ${model ? "model-proposed " : ""}fix waits for an operator`;
  if (RISK_ORDER[fix.risk] > RISK_ORDER[bound]) return `risk ${fix.risk} is above ${key} ${bound}`;
  if (model && (fix.verify ?? []).length === 0)
    return "a model's proposal without a verify step is never approved automatically";
  return null;
}
