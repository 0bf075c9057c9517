import type { ClientConfig } from "../../core/config/client.ts";
import { loadClientConfig } from "../../core/config/index.ts";
import { McpError } from "../../core/errors.ts";
import type { CliArgs } from "../args.ts";
import { createLogger, openBroker, watchSignals } from "./runtime.ts";
import { VERSION } from "./version.ts";

/**
 * `mcpmon collect --config CLIENT.yml [--config …]`: one process per host can watch several
 * services. Each config names its broker; configs that share a broker share one connection.
 */
export async function collectCommand(
  args: CliArgs,
  out: (s: string) => void,
  _err: (s: string) => void,
): Promise<number> {
  if (args.configs.length === 0) {
    throw new McpError(
      "USAGE",
      "usage: mcpmon collect --config configs/client-configs/nginx-client.yml [--config …]",
    );
  }
  const configs: ClientConfig[] = args.configs.map((f) => loadClientConfig(f));
  if (args.dataDir) for (const c of configs) c.state_dir = args.dataDir;
  const log = createLogger({ name: "collect" });
  const signals = watchSignals(log);
  const { loadPatternsDir } = await import("../../core/patterns/load.ts");
  const { runCollector } = await import("../../collector/index.ts");
  const patterns = loadPatternsDir(undefined, { withShipped: true });
  const brokers = new Map<string, ReturnType<typeof openBroker>>();
  const brokerFor = (c: ClientConfig) => {
    const key = `${c.broker.url}|${c.broker.prefix}`;
    let b = brokers.get(key);
    if (!b) {
      b = openBroker(c.broker.url, c.broker.prefix, log);
      brokers.set(key, b);
    }
    return b;
  };
  const handle = await runCollector(configs, { broker: brokerFor, patterns, log, version: VERSION });
  for (const c of configs) {
    out(
      `collecting ${c.service_type} logs as ${c.client_id} (host ${c.host}) → ${c.broker.url.replace(/\/\/[^@/]*@/, "//***@")}`,
    );
  }
  for (const client of handle.status().clients) {
    for (const f of client.files ?? []) out(`  following ${f.path}`);
  }
  return signals.wait(async () => {
    await handle.stop();
    await Promise.all([...brokers.values()].map((b) => b.close()));
  });
}
