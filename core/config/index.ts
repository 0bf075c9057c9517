import { dirname, isAbsolute, resolve } from "node:path";
import { ConfigError } from "../errors.ts";
import { CentralConfig } from "./central.ts";
import { ClientConfig } from "./client.ts";
import { brokerUrlProblem } from "./shapes.ts";
import { loadYamlFile } from "./yaml.ts";

export { CentralConfig, DEFAULT_MODEL } from "./central.ts";
export { ClientConfig } from "./client.ts";
export { describeIssue, lineIn, loadYamlFile, parseYamlText } from "./yaml.ts";

export interface LoadedCentral {
  file: string;
  config: CentralConfig;
  /** The API key from the file, or from CLAUDE_API_KEY / ANTHROPIC_API_KEY; "" = offline mode. */
  apiKey: string;
  /** Client config files, resolved relative to the central file. */
  clientFiles: string[];
}

export type ConfigKind = "central" | "client" | "patterns" | "unknown";

/**
 * `command` names who needs the file (`mcpmon serve`), for the message when it is the wrong kind.
 * Relative paths written in the file (`clients`, `ssh_settings.private_key_path`, `.known_hosts`)
 * are resolved against the file's folder, as an operator reading the file expects. The SSH paths'
 * defaults (`ssh-keys/…`) stay relative to the working folder: the Docker image and the systemd
 * units put the keys there (/var/lib/mcpmon/ssh-keys), away from the read-only config folder.
 */
export function loadCentralConfig(
  file: string,
  env: Record<string, string | undefined> = process.env,
  command = "this command",
): LoadedCentral {
  let sshKeys: string[] = [];
  const config = loadYamlFile(file, CentralConfig, {
    env,
    inspect: (data) => {
      const ssh = (data as { ssh_settings?: unknown }).ssh_settings;
      if (ssh && typeof ssh === "object") sshKeys = Object.keys(ssh);
      return wrongKind(data, "central", command);
    },
  });
  config.broker.url = brokerUrlFromEnv(file, env) ?? config.broker.url;
  const apiKey = config.claude_api_key || env.CLAUDE_API_KEY || env.ANTHROPIC_API_KEY || "";
  if (env.MCP_DEBUG === "true" || env.MCP_DEBUG === "1") config.logging.level = "debug";
  config.logging.level = config.logging.level.toLowerCase() as typeof config.logging.level;
  const base = dirname(resolve(file));
  const fromFile = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const ssh = config.ssh_settings;
  if (sshKeys.includes("private_key_path")) ssh.private_key_path = fromFile(ssh.private_key_path);
  if (sshKeys.includes("known_hosts")) ssh.known_hosts = fromFile(ssh.known_hosts);
  const clientFiles = config.clients.map(fromFile);
  return { file, config, apiKey, clientFiles };
}

export function loadClientConfig(
  file: string,
  env: Record<string, string | undefined> = process.env,
  command = "this command",
): ClientConfig {
  const config = loadYamlFile(file, ClientConfig, {
    env,
    inspect: (data) => wrongKind(data, "client", command),
  });
  config.broker.url = brokerUrlFromEnv(file, env) ?? config.broker.url;
  return config;
}

/**
 * `MCP_BROKER_URL` wins over `broker.url` in every config, central and client, whether or not the
 * file names a broker (as `mcpmon collect --help` says): before, a client file without `broker:`
 * ignored it and shipped to the default redis://127.0.0.1:6379. Checked like the file's value.
 */
function brokerUrlFromEnv(file: string, env: Record<string, string | undefined>): string | undefined {
  const url = env.MCP_BROKER_URL?.trim();
  if (!url) return undefined;
  const problem = brokerUrlProblem(url);
  if (problem) throw new ConfigError([{ file, path: "broker.url", message: `MCP_BROKER_URL: ${problem}` }]);
  return url;
}

/** Which schema a file follows, judged by its keys (for `mcpmon check-config FILE...`). */
export function detectKind(data: unknown): ConfigKind {
  if (!data || typeof data !== "object" || Array.isArray(data)) return "unknown";
  const keys = Object.keys(data);
  if (keys.includes("client_id") || keys.includes("service_type")) return "client";
  if (keys.includes("patterns") && keys.includes("service")) return "patterns";
  return "central";
}

const KIND_TEXT: Record<ConfigKind, string> = {
  central: "a central config (like configs/mcp-config.yml)",
  client: "a client config (it has client_id/service_type, like configs/client-configs/nginx-client.yml)",
  patterns: "a patterns file (like patterns/nginx.yml)",
  unknown: "not a YAML mapping of keys",
};

/**
 * `this is a central config (…); mcpmon collect needs a client config (…)`, or undefined when the
 * file fits. An empty file fits either: the schema then names the keys it misses.
 */
export function wrongKind(data: unknown, needed: "central" | "client", command: string): string | undefined {
  const kind = detectKind(data);
  if (kind === needed || (kind === "central" && Object.keys(data as object).length === 0)) return undefined;
  const hint =
    needed === "client"
      ? "a client config: client_id, service_type, log_paths… (configs/client-configs/*.yml)"
      : "the central config (configs/mcp-config.yml); client configs go to mcpmon collect or under clients:";
  return `this is ${KIND_TEXT[kind]}; ${command} needs ${hint}`;
}

export { ConfigError };
