/**
 * A real mcpmon for the MCP and operator CLI tests (test/mcp-*.test.ts, test/cli-operator.test.ts):
 * `bun cli/main.ts all` from the source on a free port with the embedded broker in a temp folder,
 * no Claude key and no executors, every rule fix waiting for an operator; optionally a second
 * `serve` on the same broker file (another API instance behind the same "load balancer") with
 * mcp.allow_writes false. `seedFix` reports an nginx permission-denied error over POST /errors and
 * waits until the analyzer has parked its rule fix in awaiting_approval.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { type ApiClient, apiClient, type FixView, type IncidentView, type Page, pollFor } from "./e2e-api.ts";
import { killAll, type McpmonProcess, ROOT, spawnMcpmon } from "./e2e-process.ts";
import { freePort, tempDir } from "./harness/index.ts";

export const TOKENS = {
  viewer: "mcp-viewer-token-0123456789",
  operator: "mcp-operator-token-0123456789",
  reporter: "mcp-reporter-token-0123456789",
};
export const CLIENT = "web-01";

export interface Mcpmon {
  dir: string;
  /** The `all` instance: mcp.allow_writes true. */
  api: ApiClient;
  /** The `serve` instance on the same broker, mcp.allow_writes false (when asked for). */
  second?: ApiClient;
  configFile: string;
  processes: McpmonProcess[];
  stop(): Promise<void>;
}

function central(port: number, dir: string, allowWrites: boolean, workers: boolean) {
  return stringify({
    broker: { url: `sqlite:${join(dir, "mcpmon.db")}` },
    api: {
      host: "127.0.0.1",
      port,
      metrics_port: null,
      host_names: ["mcpmon.internal"],
      tokens: Object.entries(TOKENS).map(([role, token]) => ({ name: `e2e-${role}`, token, role })),
    },
    processing: { error_processors: workers ? 1 : 0, fix_executors: 0 },
    executor: { auto_approve_max_risk: "none", backup_dir: join(dir, "backups") },
    targets: { [CLIENT]: { transport: "local" } },
    mcp: { allow_writes: allowWrites },
    logging: { level: "info" },
  });
}

export async function startMcpmon(opts: { second?: boolean } = {}): Promise<Mcpmon> {
  const tmp = tempDir("mcpmon-mcp-");
  const processes: McpmonProcess[] = [];
  const start = async (name: string, mode: string, allowWrites: boolean, workers: boolean) => {
    const port = await freePort();
    const file = join(tmp.path, `${name}.yml`);
    writeFileSync(file, central(port, tmp.path, allowWrites, workers));
    const p = spawnMcpmon([process.execPath, join(ROOT, "cli", "main.ts"), mode, "--config", file], {
      cwd: tmp.path,
      name,
    });
    processes.push(p);
    await p.waitForOutput(/MCP {8}http/, 60_000);
    return { api: apiClient(`http://127.0.0.1:${port}`), file };
  };
  const a = await start("all", "all", true, true);
  const b = opts.second ? await start("serve", "serve", false, false) : undefined;
  return {
    dir: tmp.path,
    api: a.api,
    ...(b ? { second: b.api } : {}),
    configFile: a.file,
    processes,
    async stop() {
      await killAll();
      tmp.cleanup();
    },
  };
}

/** Report a permission-denied line for `path`; resolves with its incident and the parked fix. */
export async function seedFix(
  api: ApiClient,
  path: string,
): Promise<{ incident: IncidentView; fix: FixView }> {
  const message = `2026/12/04 10:00:00 [error] 1234#1234: *1 open() "${path}" failed (13: Permission denied), client: 10.0.0.9, server: localhost, request: "GET /x HTTP/1.1", host: "localhost"`;
  const r = await api.post(
    "/errors",
    { client_id: CLIENT, host: CLIENT, service: "nginx", message },
    TOKENS.operator,
  );
  if (r.status !== 202) throw new Error(`POST /errors answered ${r.status}: ${JSON.stringify(r.body)}`);
  return pollFor(
    `a fix awaiting approval for ${path}`,
    async () => {
      const fixes = await api.get<Page<FixView>>("/fixes?status=awaiting_approval", TOKENS.viewer);
      const fix = fixes.body.items.find((f) => JSON.stringify(f.actions).includes(path));
      if (!fix) return null;
      const inc = await api.get<{ incident: IncidentView }>(`/errors/${fix.incident_id}`, TOKENS.viewer);
      return { incident: inc.body.incident, fix };
    },
    30_000,
  );
}
