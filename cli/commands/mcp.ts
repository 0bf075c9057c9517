/**
 * `mcpmon mcp`: wire the stdio MCP server (mcp/stdio.ts) to a running server's API (--api,
 * MCP_API_URL or the credentials file's api_url) or, without one, to the central config's broker.
 * Nothing but the protocol may reach stdout: the logger writes to stderr, and no banner is printed.
 */
import { ApiClient } from "../../api/client.ts";
import { HttpError } from "../../api/http-error.ts";
import { loadCentralConfig } from "../../core/config/index.ts";
import { loadPatternsDir } from "../../core/patterns/load.ts";
import type { CliArgs } from "../args.ts";
import { apiRefusal, apiTarget, credentialsPath } from "../credentials.ts";
import { centralPatterns } from "./checks.ts";
import { brokerUrlFor, createLogger, openBroker } from "./runtime.ts";
import { VERSION } from "./version.ts";

export async function mcpCommand(args: CliArgs, _out: (s: string) => void, err: (s: string) => void) {
  const log = createLogger({ level: process.env.MCP_DEBUG === "true" ? "debug" : "warn", name: "mcp" });
  const flag = args.flags.api as string | undefined;
  const target = apiTarget(flag, process.env);
  const viaApi = target.source !== "default";
  if (viaApi && args.configs.length > 0) {
    err("mcpmon: mcp takes --api (a running server) or --config (open its broker), not both");
    return 2;
  }
  const { serveStdioLocal, serveStdioRemote } = await import("../../mcp/stdio.ts");
  if (viaApi) {
    if (!target.token) {
      err(`mcpmon: mcp --api needs a token: set MCP_TOKEN or token = … in ${credentialsPath(process.env)}`);
      return 2;
    }
    // check_policy, explain_pattern and the patterns resources read the shipped patterns and
    // MCP_PATTERNS_DIR here; the server's own patterns_dir is not reachable over its API.
    try {
      await serveStdioRemote({
        api: new ApiClient(target),
        token: target.token,
        patterns: loadPatternsDir(undefined, { withShipped: true }),
        version: VERSION,
        log,
      });
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
      err(apiRefusal(e, target));
      return 1;
    }
    return 0;
  }
  const loaded = loadCentralConfig(args.configs[0] ?? "configs/mcp-config.yml", process.env, "mcpmon mcp");
  const { config } = loaded;
  config.broker.url = brokerUrlFor(config.broker.url, args.dataDir);
  const patterns = await centralPatterns(loaded);
  const broker = openBroker(config.broker.url, config.broker.prefix, log, false);
  try {
    await serveStdioLocal({
      broker,
      config,
      patterns,
      ...(process.env.MCP_TOKEN ? { token: process.env.MCP_TOKEN } : {}),
      version: VERSION,
      log,
    });
  } finally {
    await broker.close().catch(() => {});
  }
  return 0;
}
