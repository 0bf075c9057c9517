import { accessSync, constants } from "node:fs";
import { resolve } from "node:path";
import type { ApiHandle } from "../../api/server.ts";
import { notDurable } from "../../broker/index.ts";
import type { Broker } from "../../broker/types.ts";
import type { ClientConfig } from "../../core/config/client.ts";
import { loadCentralConfig } from "../../core/config/index.ts";
import { ConfigError, McpError } from "../../core/errors.ts";
import { RISK_ORDER } from "../../core/schemas/actions.ts";
import type { CliArgs } from "../args.ts";
import { centralPatterns, ensureStateDir, loadClients, missingClientFiles } from "./checks.ts";
import { brokerUrlFor, createLogger, openBroker, watchSignals } from "./runtime.ts";
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
  const loaded = loadCentralConfig(file, process.env, `mcpmon ${mode}`);
  const { config, apiKey } = loaded;
  if (args.port !== undefined) config.api.port = args.port;
  config.broker.url = brokerUrlFor(config.broker.url, args.dataDir);
  const patterns = await centralPatterns(loaded);

  // Collectors of `all` run in this process and ship to the same broker; fixes for them run on
  // this host through the local transport unless the config names another target. Their files are
  // checked here, with their real paths, before anything starts.
  let clients: ClientConfig[] = [];
  if (mode === "all") {
    const missing = missingClientFiles(loaded);
    if (missing.length > 0) throw new ConfigError(missing);
    clients = loadClients(loaded.clientFiles, patterns, "mcpmon all (clients:)");
    clients.forEach((c, i) => {
      if (args.dataDir) c.state_dir = resolve(args.dataDir, "state");
      ensureStateDir(c.state_dir, args.dataDir ? undefined : loaded.clientFiles[i]!);
      config.targets[c.client_id] ??= { transport: "local", port: 22 };
    });
  }

  const log = createLogger({ level: config.logging.level, name: mode });
  const signals = watchSignals(log);
  const broker = openBroker(
    config.broker.url,
    config.broker.prefix,
    log,
    config.broker.durable,
    config.broker.wait_replicas,
  );
  const stoppables: Array<[string, Stoppable]> = [];
  const components: Record<string, { running: boolean; workers?: number; detail?: Record<string, unknown> }> =
    {};
  let api: ApiHandle | null = null;
  let brokerWarning: string | undefined;
  try {
    await reachBroker(broker, config.broker.url);
    const durability = await broker.durability?.();
    if (durability?.required && durability.mode === "none") throw notDurable(durability);
    brokerWarning = durability?.warning;
    // The API listens first: a port in use fails the start before any worker has taken an entry.
    if ((mode === "all" || mode === "serve") && config.api.enabled) {
      const { startApi } = await import("../../api/server.ts");
      const { readTokenStatus } = await import("../../analyzer/budget.ts");
      const { mcpHttpHandler } = await import("../../mcp/http.ts");
      api = await startApi({
        mcp: mcpHttpHandler,
        broker,
        config,
        patterns,
        log: log.child({ component: "api" }),
        version: VERSION,
        components: () => components,
        tokenStatus: async () => ({ ...(await readTokenStatus(broker, config)) }),
      });
      stoppables.push(["api", api]);
    }
    if (mode !== "execute" && config.processing.error_processors > 0) {
      const { startAnalyzers } = await import("../../analyzer/index.ts");
      const analyzers = await startAnalyzers({
        broker,
        config,
        apiKey,
        patterns,
        log: log.child({ component: "analyzer" }),
        onEvent: (e) => api?.metrics.countIngested(e.service, e.pattern_id, e.count),
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
      // Collectors stop right after the API, so what they read is spooled and shipped while the
      // broker is open.
      stoppables.splice(api ? 1 : 0, 0, ["collectors", collector]);
      components.collectors = { running: true, workers: clients.length };
      Object.defineProperty(components.collectors, "detail", {
        enumerable: true,
        get: () => ({ ...collector.status() }),
      });
    }
  } catch (err) {
    // Whatever had started stops, in the same order as at shutdown, and the broker closes.
    for (const [, s] of stoppables) await s.stop().catch(() => {});
    await broker.close().catch(() => {});
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
    ...(brokerWarning ? { brokerWarning } : {}),
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

/**
 * Redis is asked once at start: down, it would otherwise surface as a worker's
 * `redis ensureGroup: not connected` after the connect timeout. Still a runtime failure (exit 1):
 * the config may be right and the broker only late. The embedded broker is a local file.
 */
async function reachBroker(broker: Broker, url: string): Promise<void> {
  if (broker.kind !== "redis") return;
  const health = await broker.health();
  if (health.ok) return;
  const cause = (health.error ?? health.state ?? "unknown error").replace(/^redis \w+: /, "");
  throw new McpError(
    "BROKER_UNAVAILABLE",
    `cannot reach the broker ${redactUrl(url)} (broker.url or MCP_BROKER_URL): ${cause}`,
  );
}

const redactUrl = (url: string) => url.replace(/\/\/[^@/]*@/, "//***@");

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
    brokerWarning?: string;
    collectorFiles?: Record<string, unknown>;
  },
) {
  const { config } = o;
  out(`mcpmon ${VERSION} — ${o.mode}`);
  out(`  broker     ${redactUrl(o.brokerUrl)}`);
  if (o.brokerWarning) out(`  WARNING    ${o.brokerWarning}`);
  if (o.api) {
    out(
      `  API        ${o.api.url}   (docs: ${o.api.url}/swagger, events: ${o.api.url.replace(/^http/, "ws")}/ws)`,
    );
    if (config.mcp.enabled)
      out(
        `  MCP        ${o.api.url}/mcp   (Streamable HTTP, stateless; ${config.mcp.allow_writes ? "write tools on (mcp.allow_writes)" : "read-only tools: mcp.allow_writes is false"})`,
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
  const key = config.ssh_settings.private_key_path;
  if (executorsMaySsh(o.mode, config) && !readable(key)) {
    out(
      `  WARNING    ssh key ${resolve(key)} (ssh_settings.private_key_path) is not readable: fixes over SSH will fail`,
    );
  }
  if (o.mode !== "analyze") {
    const max = config.executor.auto_approve_max_risk;
    const services = o.clients.length
      ? [...new Set(o.clients.map((c) => c.service_type))]
      : [...o.patterns.keys()];
    const auto = services.flatMap((s) =>
      (o.patterns.get(s)?.spec.policy.rules ?? [])
        .filter((r) => max !== "none" && RISK_ORDER[r.risk] <= RISK_ORDER[max])
        .map((r) => `${s}:${r.id}`),
    );
    const model = config.executor.auto_approve_model_max_risk;
    out(
      config.executor.dry_run
        ? "  fixes      dry run: plans are recorded, nothing is run"
        : `  fixes      rule fixes run without asking up to risk "${max}": ${auto.join(", ") || "none"}; anything riskier waits for POST /fixes/{id}/approve`,
    );
    if (!config.executor.dry_run)
      out(
        model === "none"
          ? "             Claude's proposals always wait for an operator (executor.auto_approve_model_max_risk: none)"
          : `  WARNING    Claude's proposals with a verify step run without asking up to risk "${model}" (executor.auto_approve_model_max_risk)`,
      );
  }
}

/**
 * Executors run, and some client's fixes go over SSH: in `all` every collector of the config is on
 * this host (local transport) unless a target says ssh; elsewhere any registered client may be remote.
 */
function executorsMaySsh(mode: Mode, config: ReturnType<typeof loadCentralConfig>["config"]): boolean {
  if (mode === "analyze" || config.processing.fix_executors === 0 || config.executor.dry_run) return false;
  const targets = Object.values(config.targets);
  return mode !== "all" || targets.some((t) => t.transport === "ssh");
}

function readable(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}
