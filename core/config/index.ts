import { dirname, isAbsolute, resolve } from "node:path";
import { ConfigError } from "../errors.ts";
import { CentralConfig } from "./central.ts";
import { ClientConfig } from "./client.ts";
import { loadYamlFile } from "./yaml.ts";

export { CentralConfig, DEFAULT_MODEL } from "./central.ts";
export { ClientConfig } from "./client.ts";
export { loadYamlFile, parseYamlText } from "./yaml.ts";

export interface LoadedCentral {
  file: string;
  config: CentralConfig;
  /** The API key from the file, or from CLAUDE_API_KEY / ANTHROPIC_API_KEY; "" = offline mode. */
  apiKey: string;
  /** Client config files, resolved relative to the central file. */
  clientFiles: string[];
}

export function loadCentralConfig(
  file: string,
  env: Record<string, string | undefined> = process.env,
): LoadedCentral {
  const config = loadYamlFile(file, CentralConfig, { env });
  const apiKey = config.claude_api_key || env.CLAUDE_API_KEY || env.ANTHROPIC_API_KEY || "";
  if (env.MCP_DEBUG === "true" || env.MCP_DEBUG === "1") config.logging.level = "debug";
  config.logging.level = config.logging.level.toLowerCase() as typeof config.logging.level;
  const base = dirname(resolve(file));
  const clientFiles = config.clients.map((c) => (isAbsolute(c) ? c : resolve(base, c)));
  return { file, config, apiKey, clientFiles };
}

export function loadClientConfig(
  file: string,
  env: Record<string, string | undefined> = process.env,
): ClientConfig {
  return loadYamlFile(file, ClientConfig, { env });
}

/** Which schema a file follows, judged by its keys (for `mcpmon check-config FILE...`). */
export function detectKind(data: unknown): "central" | "client" | "patterns" | "unknown" {
  if (!data || typeof data !== "object") return "unknown";
  const keys = Object.keys(data);
  if (keys.includes("client_id") || keys.includes("service_type")) return "client";
  if (keys.includes("patterns") && keys.includes("service")) return "patterns";
  return "central";
}

export { ConfigError };
