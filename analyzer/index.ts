/**
 * The analyzer as a library: the CLI (`mcpmon analyze`, `mcpmon all`) starts workers with
 * `startAnalyzers`, the API reads `/tokens/status` with `readTokenStatus` and acts on incidents and
 * fixes with the operator functions.
 */
export {
  budgetWindowMs,
  readTokenStatus,
  TokenBudget,
  type TokenStatus,
  type TokenTotals,
} from "./budget.ts";
export { AnalysisCache } from "./cache.ts";
export { SYSTEM_PROMPT } from "./claude/prompt.ts";
export { PROPOSE_FIXES_TOOL, TOOL_NAME } from "./claude/tool.ts";
export { fixIdFor, incidentId } from "./incidents.ts";
export { getIncident, type IncidentFilter, listIncidents } from "./operator.ts";
export { OFFLINE_REASON } from "./pipeline.ts";
export { remediationFields, ruleProposal } from "./rules.ts";
export type { Analysis, Outcome, Proposal, ProposalSource } from "./types.ts";
export { type AnalyzerOptions, type AnalyzerStats, type Analyzers, startAnalyzers } from "./worker.ts";
