// The collector's public surface: what `mcpmon collect` and `mcpmon all` wire.
export type { ClientStatus, CollectorTuning } from "./client.ts";
export { type CollectorDeps, type CollectorHandle, type CollectorStatus, runCollector } from "./collector.ts";
export { type HealthResult, resolveHealthCheck, runHealthCheck } from "./health.ts";
export { createMatcher, type Match, type Matcher } from "./match.ts";
