import type { Action, Check, Risk } from "../core/schemas/actions.ts";

/** Where a proposal came from: a pattern's remediation, the shared cache, or a Claude answer. */
export type ProposalSource = "rule" | "cache" | "claude";

/** What an analysis says about one incident; cached per fingerprint (without ids). */
export interface Analysis {
  diagnosis: string;
  root_cause?: string;
  confidence?: number;
  /** The proposer's own risk claim; the policy may raise it, never lower it. */
  risk: Risk;
  actions: Action[];
  preconditions: Check[];
  verify: Check[];
  rollback: Action[];
}

export interface Proposal extends Analysis {
  incident_id: string;
  source: ProposalSource;
}

/** The outcome of analysing one incident: a proposal, or a reason a human must look. */
export type Outcome =
  | { kind: "proposal"; proposal: Proposal }
  | { kind: "needs_human"; reason: string; source: ProposalSource | "none" };
