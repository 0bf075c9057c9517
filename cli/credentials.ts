/**
 * Where the operator commands and `mcpmon mcp --api` find the API and their token: `--api`, then
 * MCP_API_URL, then `api_url` in the credentials file, then http://127.0.0.1:8080; the token from
 * MCP_TOKEN, then `token` in the file. The file (`$XDG_CONFIG_HOME/mcpmon/credentials`, by default
 * `~/.config/mcpmon/credentials`) holds `key = value` lines and must be readable by its owner
 * only (0600): a token readable by others is refused, as ssh refuses such a private key.
 */
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { HttpError } from "../api/http-error.ts";
import { McpError } from "../core/errors.ts";

export interface ApiTarget {
  url: string;
  token?: string;
  /** Where the URL came from; `default` when nothing named an API. */
  source: "--api" | "MCP_API_URL" | "credentials" | "default";
}

export const DEFAULT_API_URL = "http://127.0.0.1:8080";

export function credentialsPath(env: Record<string, string | undefined>): string {
  const base = env.XDG_CONFIG_HOME || join(env.HOME ?? "", ".config");
  return join(base, "mcpmon", "credentials");
}

/** The API and token to use; throws USAGE (exit 2) for a bad URL or a credentials file others can read. */
export function apiTarget(flag: string | undefined, env: Record<string, string | undefined>): ApiTarget {
  const file = readCredentials(credentialsPath(env));
  const source: ApiTarget["source"] = flag
    ? "--api"
    : env.MCP_API_URL
      ? "MCP_API_URL"
      : file.api_url
        ? "credentials"
        : "default";
  const url = flag || env.MCP_API_URL || file.api_url || DEFAULT_API_URL;
  if (!/^https?:\/\/[^/\s]+/i.test(url))
    throw new McpError("USAGE", `${source}: expected http(s)://HOST[:PORT], got "${url}"`);
  const token = env.MCP_TOKEN || file.token;
  return { url, source, ...(token ? { token } : {}) };
}

function readCredentials(path: string): Record<string, string> {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch {
    return {};
  }
  if ((st.mode & 0o077) !== 0)
    throw new McpError(
      "USAGE",
      `${path} is readable by others (mode ${(st.mode & 0o777).toString(8).padStart(4, "0")}): chmod 600 ${path}`,
    );
  const out: Record<string, string> = {};
  readFileSync(path, "utf8")
    .split(/\r?\n/)
    .forEach((line, i) => {
      const t = line.trim();
      if (t === "" || t.startsWith("#")) return;
      const m = /^([a-z_]+)\s*[=:]\s*(.*)$/i.exec(t);
      if (!m || !["api_url", "token"].includes(m[1]!.toLowerCase()))
        throw new McpError("USAGE", `${path}:${i + 1}: expected "api_url = URL" or "token = TOKEN"`);
      out[m[1]!.toLowerCase()] = m[2]!.replace(/^(["'])(.*)\1$/, "$2");
    });
  return out;
}

/** `mcpmon: the API at URL answered 401 unauthorized: … (check MCP_TOKEN)`: what failed and where. */
export function apiRefusal(e: HttpError, target: ApiTarget): string {
  const hint =
    e.status === 401
      ? target.token
        ? " (check MCP_TOKEN or the credentials file's token)"
        : " (no token: set MCP_TOKEN or token = … in ~/.config/mcpmon/credentials)"
      : "";
  return `mcpmon: the API at ${target.url} answered ${e.status} ${e.code}: ${e.message}${hint}`;
}
