import { dirname, resolve } from "node:path";
import type { ApiHandle } from "../../api/server.ts";
import type { ClientConfig } from "../../core/config/client.ts";
import { loadCentralConfig, loadClientConfig } from "../../core/config/index.ts";
import { RISK_ORDER } from "../../core/schemas/actions.ts";
import type { CliArgs } from "../args.ts";
import { brokerUrlFor, createLogger, openBroker, resolveFrom, watchSignals } from "./runtime.ts";
import { VERSION } from "./version.ts";

type Mode = "all" | "serve" | "analyze" | "execute";
interface Stoppable {
  stop(): Promise<void>;
}

/**
 * `mcpmon all | serve | analyze | execute`: the central side. `serve` runs the API, analyzers and
 * executors against the configured broker; `analyze` and `execute` scale out beside it; `all` adds
 * collectors for the client configs the central config lists — one machine, nothing but the binary.
 */
export async function runServerCommand(
  args: CliArgs,
  out: (s: string) => void,
  _err: (s: string) => void,
): Promise<number> {
  const mode = args.command as Mode;
  const file = args.configs[0] ?? "configs/mcp-config.yml";
  const loaded = loadCentralConfig(file);
  const { config, apiKey } = loaded;
  if (args.port !== undefined) config.api.port = args.port;
  config.broker.url = brokerUrlFor(config.broker.url, args.dataDir);
  const log = createLogger({ level: config.logging.level, name: mode });
  const signals = watchSignals(log);
  const { loadPatternsDir } = await import("../../core/patterns/load.ts");
  const patterns = loadPatternsDir(
    config.patterns_dir ? resolveFrom(dirname(resolve(file)), config.patterns_dir) : undefined,
    {
      withShipped: true,
    },
  );

  // Collectors of `all` run in this process and ship to the same broker; fixes for them run on
  // this host through the local transport unless the config names another target.
  const clients: ClientConfig[] = mode === "all" ? loaded.clientFiles.map((f) => loadClientConfig(f)) : [];
  for (const c of clients) {
    if (args.dataDir) c.state_dir = resolve(args.dataDir, "state");
    config.targets[c.client_id] ??= { transport: "local", port: 22 };
  }

  const broker = openBroker(config.broker.url, config.broker.prefix, log);
  const stoppables: Array<[string, Stoppable]> = [];
  const components: Record<string, { running: boolean; workers?: number; detail?: Record<string, unknown> }> =
    {};
  let api: ApiHandle | null = null;
  try {
    if (mode !== "execute" && config.processing.error_processors > 0) {
      const { startAnalyzers } = await import("../../analyzer/index.ts");
      const analyzers = await startAnalyzers({
        broker,
        config,
        apiKey,
        patterns,
        log: log.child({ component: "analyzer" }),
        onEvent: (e) =>
          api?.metrics.eventsIngested.inc({ service: e.service, pattern: e.pattern_id }, e.count),
      });
      stoppables.push(["analyzers", analyzers]);
      components.analyzers = { running: true, workers: config.processing.error_processors };
      Object.defineProperty(components.analyzers, "detail", {
        enumerable: true,
        get: () => ({ ...analyzers.stats() }),
      });
    }
    if (mode !== "analyze" && config.processing.fix_executors > 0) {
      const { startExecutors } = await import("../../executor/worker.ts");
      const backup = new Map(clients.map((c) => [c.client_id, c.backup_enabled]));
      const executors = await startExecutors({
        broker,
        config,
        patterns,
        log: log.child({ component: "executor" }),
        backupConfigFiles: (id) => backup.get(id) ?? true,
      });
      stoppables.push(["executors", executors]);
      components.executors = { running: true, workers: config.processing.fix_executors };
    }
    if (clients.length > 0) {
      const { runCollector } = await import("../../collector/index.ts");
      const collector = await runCollector(clients, {
        broker,
        patterns,
        log: log.child({ component: "collector" }),
        version: VERSION,
      });
      // Collectors stop first so what they read is spooled and shipped while the broker is open.
      stoppables.unshift(["collectors", collector]);
      components.collectors = { running: true, workers: clients.length };
      Object.defineProperty(components.collectors, "detail", {
        enumerable: true,
        get: () => ({ ...collector.status() }),
      });
    }
    if ((mode === "all" || mode === "serve") && config.api.enabled) {
      const { startApi } = await import("../../api/server.ts");
      const { readTokenStatus } = await import("../../analyzer/budget.ts");
      api = await startApi({
        broker,
        config,
        log: log.child({ component: "api" }),
        version: VERSION,
        components: () => components,
        tokenStatus: async () => ({ ...(await readTokenStatus(broker, config)) }),
      });
      stoppables.unshift(["api", api]);
    }
  } catch (err) {
    for (const [, s] of stoppables) await s.stop().catch(() => {});
    await broker.close();
    throw err;
  }

  printBanner(out, {
    mode,
    config,
    apiKey,
    api,
    clients,
    patterns,
    brokerUrl: config.broker.url,
    collectorFiles: components.collectors?.detail,
  });

  return signals.wait(async () => {
    for (const [name, s] of stoppables) {
      log.info({ component: name }, "stopping");
      await s.stop();
    }
    await broker.close();
    log.info("stopped");
  });
}

function printBanner(
  out: (s: string) => void,
  o: {
    mode: Mode;
    config: ReturnType<typeof loadCentralConfig>["config"];
    apiKey: string;
    api: ApiHandle | null;
    clients: ClientConfig[];
    patterns: Map<string, import("../../core/patterns/load.ts").ServicePatterns>;
    brokerUrl: string;
    collectorFiles?: Record<string, unknown>;
  },
) {
  const { config } = o;
  out(`mcpmon ${VERSION} — ${o.mode}`);
  out(`  broker     ${o.brokerUrl.replace(/\/\/[^@/]*@/, "//***@")}`);
  if (o.api) {
    out(
      `  API        ${o.api.url}   (docs: ${o.api.url}/swagger, events: ${o.api.url.replace(/^http/, "ws")}/ws)`,
    );
    if (o.api.metricsUrl) out(`  metrics    ${o.api.metricsUrl}`);
    if (config.api.tokens.some((t) => t.token.startsWith("change-me"))) {
      out(
        "  WARNING    an API token is still the shipped example (change-me-…): set MCP_ADMIN_TOKEN before exposing the API",
      );
    }
  }
  if (o.mode !== "execute") {
    out(
      o.apiKey
        ? `  Claude     enabled (${config.claude.model}, ${config.token_limits.max_tokens_per_minute} tokens/min shared by all analyzers)`
        : "  Claude     disabled: no CLAUDE_API_KEY or ANTHROPIC_API_KEY — known problems are fixed from rules, the rest waits for a human",
    );
  }
  const status =
    (
      o.collectorFiles as
        | { clients?: Array<{ client_id: string; files?: Array<{ path: string }> }> }
        | undefined
    )?.clients ?? [];
  for (const c of o.clients) {
    const files = status.find((s) => s.client_id === c.client_id)?.files?.map((f) => f.path) ?? [];
    const globs = c.log_paths ?? o.patterns.get(c.service_type)?.spec.log_paths ?? [];
    out(
      `  watching   ${c.client_id} (${c.service_type}): ${globs.join(", ")}${files.length ? ` → ${files.length} file(s) now` : " (no file yet)"}`,
    );
  }
  if (o.mode !== "analyze") {
    const max = config.executor.auto_approve_max_risk;
    const services = o.clients.length
      ? [...new Set(o.clients.map((c) => c.service_type))]
      : [...o.patterns.keys()];
    const auto = services.flatMap((s) =>
      (o.patterns.get(s)?.spec.policy.rules ?? [])
        .filter((r) => RISK_ORDER[r.risk] <= RISK_ORDER[max])
        .map((r) => `${s}:${r.id}`),
    );
    out(
      config.executor.dry_run
        ? "  fixes      dry run: plans are recorded, nothing is run"
        : `  fixes      run without asking up to risk "${max}": ${auto.join(", ") || "none"}; anything riskier waits for POST /fixes/{id}/approve`,
    );
  }
}
