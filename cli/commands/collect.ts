import { resolve } from "node:path";
import type { ClientConfig } from "../../core/config/client.ts";
import { McpError } from "../../core/errors.ts";
import type { ServicePatterns } from "../../core/patterns/load.ts";
import type { CliArgs } from "../args.ts";
import { ensureStateDir, loadClients } from "./checks.ts";
import { createLogger, openBroker, watchSignals } from "./runtime.ts";
import { VERSION } from "./version.ts";

/**
 * `mcpmon collect --config CLIENT.yml [--config …]`: one process per host can watch several
 * services. Each config names its broker; configs that share a broker share one connection.
 * Every config is checked (schema, service_type against the patterns, state_dir writable) before
 * anything starts, so a mistake names its file rather than "config #1".
 */
export async function collectCommand(
  args: CliArgs,
  out: (s: string) => void,
  _err: (s: string) => void,
): Promise<number> {
  if (args.configs.length === 0) {
    throw new McpError(
      "USAGE",
      "collect needs --config CLIENT.yml, e.g. mcpmon collect --config configs/client-configs/nginx-client.yml",
    );
  }
  const { loadPatternsDir } = await import("../../core/patterns/load.ts");
  const patterns = loadPatternsDir(undefined, { withShipped: true });
  const configs: ClientConfig[] = loadClients(args.configs, patterns, "mcpmon collect");
  configs.forEach((c, i) => {
    if (args.dataDir) c.state_dir = args.dataDir;
    ensureStateDir(c.state_dir, args.dataDir ? undefined : args.configs[i]!);
  });
  const log = createLogger({ name: "collect" });
  const signals = watchSignals(log);
  const { runCollector } = await import("../../collector/index.ts");
  const brokers = new Map<string, ReturnType<typeof openBroker>>();
  const brokerFor = (c: ClientConfig) => {
    const key = `${c.broker.url}|${c.broker.prefix}|${c.broker.durable}|${c.broker.wait_replicas}`;
    let b = brokers.get(key);
    if (!b) {
      b = openBroker(c.broker.url, c.broker.prefix, log, c.broker.durable, c.broker.wait_replicas);
      brokers.set(key, b);
    }
    return b;
  };
  let handle: Awaited<ReturnType<typeof runCollector>>;
  try {
    handle = await runCollector(configs, { broker: brokerFor, patterns, log, version: VERSION });
  } catch (e) {
    await Promise.all([...brokers.values()].map((b) => b.close().catch(() => {})));
    throw e;
  }
  const status = handle.status().clients as Array<{ client_id: string; files?: Array<{ path: string }> }>;
  for (const c of configs) {
    out(
      `collecting ${c.service_type} logs as ${c.client_id} (host ${c.host}) → ${c.broker.url.replace(/\/\/[^@/]*@/, "//***@")}`,
    );
    const files = (status.find((s) => s.client_id === c.client_id)?.files ?? []).map((f) => f.path);
    for (const line of watchLines(c, patterns, files)) out(`  ${line}`);
  }
  return signals.wait(async () => {
    await handle.stop();
    await Promise.all([...brokers.values()].map((b) => b.close()));
  });
}

/**
 * `following PATH` for each file found, and `watching GLOB (no file yet)` for each glob that
 * matched nothing: a typo in log_paths is otherwise indistinguishable from a quiet service.
 */
export function watchLines(
  c: ClientConfig,
  patterns: Map<string, ServicePatterns>,
  files: string[],
): string[] {
  const globs = c.log_paths ?? patterns.get(c.service_type)?.spec.log_paths ?? [];
  const lines = files.map((f) => `following ${f}`);
  for (const g of globs) {
    const glob = new Bun.Glob(resolve(g));
    if (!files.some((f) => glob.match(resolve(f)))) lines.push(`watching ${g} (no file yet)`);
  }
  return lines;
}
