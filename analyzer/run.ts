/**
 * A standalone analyzer process: `bun analyzer/run.ts --config FILE` (what `mcpmon analyze` wires
 * up, and what the multi-process tests spawn). Runs until SIGTERM/SIGINT, then stops cleanly.
 */
import { createBroker } from "../broker/index.ts";
import { loadCentralConfig } from "../core/config/index.ts";
import { createLogger } from "../core/log.ts";
import { loadPatternsDir } from "../core/patterns/index.ts";
import { startAnalyzers } from "./worker.ts";

export async function runAnalyzerProcess(configFile: string, consumerPrefix?: string): Promise<void> {
  const { config, apiKey } = loadCentralConfig(configFile);
  const log = createLogger({ level: config.logging.level, name: "analyzer" });
  const broker = createBroker(config.broker.url, { prefix: config.broker.prefix });
  const patterns = loadPatternsDir(config.patterns_dir);
  const analyzers = await startAnalyzers({
    broker,
    config,
    apiKey,
    patterns,
    log,
    ...(consumerPrefix ? { consumerPrefix } : {}),
  });
  const stop = async () => {
    await analyzers.stop();
    await broker.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop());
  process.on("SIGINT", () => void stop());
  // Readiness line for supervisors and tests.
  process.stdout.write(`analyzer ready ${JSON.stringify({ pid: process.pid })}\n`);
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const at = args.indexOf("--config");
  const name = args.indexOf("--name");
  if (at < 0 || !args[at + 1]) {
    process.stderr.write("usage: bun analyzer/run.ts --config FILE [--name CONSUMER_PREFIX]\n");
    process.exit(2);
  }
  await runAnalyzerProcess(args[at + 1]!, name >= 0 ? args[name + 1] : undefined);
}
