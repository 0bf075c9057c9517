import type { Broker } from "../broker/types.ts";
import type { CentralConfig } from "../core/config/central.ts";
import type { Logger } from "../core/log.ts";
import type { ServicePatterns } from "../core/patterns/load.ts";
import type { TokenAuth } from "./auth.ts";
import type { EventsHub } from "./events-hub.ts";
import type { Metrics } from "./metrics.ts";

/** What a running component reports for /health and /status. */
export interface ComponentStatus {
  running: boolean;
  workers?: number;
  detail?: Record<string, unknown>;
}

/** Everything the API's services need; handlers never pass Elysia's Context further. */
export interface ApiDeps {
  broker: Broker;
  config: CentralConfig;
  log: Logger;
  auth: TokenAuth;
  metrics: Metrics;
  hub: EventsHub;
  version: string;
  startedAt: number;
  /** Components running in this process (analyzers, executors, collectors). */
  components: () => Record<string, ComponentStatus>;
  /** Analyzer token figures; null when no analyzer shares this broker yet. */
  tokenStatus: () => Promise<Record<string, unknown> | null>;
  /** The loaded patterns files by service; absent in tests that do not need them (no checks then). */
  patterns?: Map<string, ServicePatterns>;
}
