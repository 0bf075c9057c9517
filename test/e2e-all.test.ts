/**
 * End to end: the compiled binary `mcpmon all`, run from an empty folder on free ports with the
 * embedded broker, watching a real nginx's error log. A permission-denied error is fixed by its
 * rule by itself (chmod 644; the 403 becomes 200); a "request body too large" error goes to the
 * (fake) Claude, whose medium-risk config rewrite waits for an operator, is approved over the API,
 * and is run by the local transport (conf rewritten, nginx -t, reload: the 413 becomes 200). The
 * incidents show over REST and WebSocket, the counts in /metrics, and SIGTERM exits 0.
 * Also: `mcpmon version` and `check-config` from an empty folder.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import {
  type ApiClient,
  apiClient,
  type FixView,
  type IncidentView,
  metricValue,
  type Page,
  PollAbort,
  pollFor,
  type WsClient,
  wsClient,
} from "./e2e-api.ts";
import { killAll, type McpmonProcess, mcpmonBinary, ROOT, spawnMcpmon } from "./e2e-process.ts";
import { nginxPatternsFor, type Scenario, startScenario, TOKENS, tokensYaml } from "./e2e-scenario.ts";
import { freePort, tempDir } from "./harness/index.ts";

setDefaultTimeout(120_000);

const tmp = tempDir("mcpmon-e2e-all-");
const cwd = join(tmp.path, "run"); // empty: the binary needs nothing else
const etc = join(tmp.path, "etc");
let bin: string;
let sc: Scenario;
let mcpmon: McpmonProcess | null = null;
let ws: WsClient | null = null;
let api: ApiClient;

async function run(args: string[]): Promise<{ code: number; out: string }> {
  const p = spawnMcpmon([bin, ...args], { cwd, name: args[0] });
  const code = await p.exited(30_000);
  await p.kill();
  return { code: code ?? -1, out: p.output() };
}

beforeAll(async () => {
  mkdirSync(cwd);
  mkdirSync(join(etc, "patterns"), { recursive: true });
  [bin, sc] = await Promise.all([mcpmonBinary(), startScenario()]);
  writeFileSync(join(etc, "patterns", "nginx.yml"), nginxPatternsFor(sc.nginx));
  writeFileSync(
    join(etc, "nginx-client.yml"),
    stringify({
      client_id: "e2e-nginx",
      service_type: "nginx",
      host: "e2e-host",
      log_paths: [sc.nginx.errorLog],
      read_from: "beginning",
      state_dir: join(tmp.path, "state"),
      health_check_interval: 1,
      backup_enabled: true,
      poll_interval_ms: 100,
      health_check: { port: sc.nginx.port },
    }),
  );
  const port = await freePort();
  writeFileSync(
    join(etc, "central.yml"),
    stringify({
      claude_api_key: "sk-ant-e2e-fake",
      claude: { base_url: sc.fake.url, batch_wait_ms: 200, max_retries: 1, timeout_s: 20 },
      token_limits: { max_tokens_per_minute: 1_000_000, batch_size: 5 },
      processing: { error_processors: 1, fix_executors: 1 },
      broker: { url: "sqlite:data/mcpmon.db" }, // relative to the working folder
      api: { host: "127.0.0.1", port, tokens: tokensYaml() },
      executor: { auto_approve_max_risk: "low", backup_dir: join(tmp.path, "backups") },
      ssh_settings: { command_timeout: 20 },
      clients: ["nginx-client.yml"], // relative to this file
      patterns_dir: "patterns",
      logging: { level: "info" },
    }),
  );
  api = apiClient(`http://127.0.0.1:${port}`);
}, 120_000);

afterAll(async () => {
  ws?.close();
  await killAll();
  await sc?.stop();
  tmp.cleanup();
}, 120_000);

describe("the binary from an empty folder", () => {
  test("version", async () => {
    const r = await run(["version"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^mcpmon \d+\.\d+\.\d+/);
  });

  test("check-config: the shipped configs and patterns are valid (exit 0)", async () => {
    const files = [
      join(ROOT, "configs", "mcp-config.yml"),
      ...["local-demo-client", "nginx-client", "odoo-client", "postgres-client", "redis-client"].map((c) =>
        join(ROOT, "configs", "client-configs", `${c}.yml`),
      ),
      ...["nginx", "postgres", "redis", "odoo"].map((s) => join(ROOT, "patterns", `${s}.yml`)),
      join(etc, "central.yml"),
      join(etc, "nginx-client.yml"),
      join(etc, "patterns", "nginx.yml"), // the rewritten copy is still a valid patterns file
    ];
    const r = await run(["check-config", ...files]);
    expect(r.out).not.toContain("invalid");
    expect(r.code).toBe(0);
    for (const f of files) expect(r.out).toContain(`ok      ${f}`);
  });

  test("check-config: a broken config exits 2 naming file:line and the key", async () => {
    const bad = join(etc, "broken.yml");
    writeFileSync(
      bad,
      [
        "processing:",
        "  error_processors: 2",
        "api:",
        "  port: 8080",
        "  tokens:",
        "    - name: ops",
        '      token: "t"',
        "      role: boss",
        "",
      ].join("\n"),
    );
    const r = await run(["check-config", bad]);
    expect(r.code).toBe(2);
    expect(r.out).toContain(`${bad}:8`);
    expect(r.out).toContain("api.tokens.0.role");
    expect(r.out).toContain("boss");
  });
});

describe("mcpmon all", () => {
  test("starts from an empty folder and says what it serves, watches and fixes", async () => {
    mcpmon = spawnMcpmon([bin, "all", "--config", join(etc, "central.yml")], { cwd, name: "all" });
    await mcpmon.waitForOutput(/fixes {6}rule fixes run without asking/);
    const out = mcpmon.output();
    expect(out).toContain(`API        ${api.url}`);
    expect(out).toContain(`watching   e2e-nginx (nginx): ${sc.nginx.errorLog}`);
    expect(out).toContain("Claude     enabled");
    expect(out).toContain("nginx:chmod-web-content");
    expect(out).not.toContain("nginx:write-nginx-config"); // medium: waits for an operator
    expect((await api.get("/health")).status).toBe(200);
    const st = await api.get<{
      broker: { kind: string };
      components: Record<string, { running: boolean }>;
      claude: { enabled: boolean };
    }>("/status", TOKENS.viewer);
    expect(st.status).toBe(200);
    expect(st.body.broker.kind).toBe("embedded");
    expect(st.body.claude.enabled).toBe(true);
    for (const c of ["analyzers", "executors", "collectors"])
      expect(st.body.components[c]?.running).toBe(true);
    // The embedded broker lives in the working folder, as the relative URL says.
    expect(existsSync(join(cwd, "data", "mcpmon.db"))).toBe(true);
  });

  test("nginx errors → incidents over REST and WebSocket", async () => {
    expect(mcpmon).not.toBeNull();
    ws = await wsClient(api.url, TOKENS.viewer);
    await ws.subscribe("errors");
    await ws.subscribe("incidents");
    await ws.subscribe("fixes");

    // Real nginx writes the error lines: a file its workers cannot read, a body above the limit.
    expect((await fetch(sc.lockedUrl)).status).toBe(403);
    expect(await sc.upload()).toBe(413);

    const incidents = await pollFor("both incidents in GET /errors", async () => {
      const r = await api.get<Page<IncidentView>>("/errors?service=nginx", TOKENS.viewer);
      expect(r.status).toBe(200);
      const perm = r.body.items.find((i) => i.pattern_id === "nginx-permission-denied");
      const big = r.body.items.find((i) => i.pattern_id === "nginx-body-too-large");
      return perm && big ? { perm, big } : null;
    });
    expect(incidents.perm.fields?.path).toBe(sc.lockedPath);
    expect(incidents.perm.count).toBeGreaterThanOrEqual(1);

    // The same incidents arrived as events.
    await ws.waitFor(
      "error.new for the permission-denied error",
      (m) =>
        m.type === "event" &&
        m.event?.type === "error.new" &&
        m.event.data?.pattern_id === "nginx-permission-denied" &&
        m.event.data?.incident_id === incidents.perm.incident_id,
    );
    await ws.waitFor(
      "incident.status of the body-too-large incident",
      (m) =>
        m.type === "event" &&
        m.event?.channel === "incidents" &&
        m.event.subject === incidents.big.incident_id,
    );
    // Without a valid token, no REST read and no socket.
    expect((await api.get("/errors")).status).toBe(401);
    await expect(wsClient(api.url, "not-a-token")).rejects.toThrow();
  });

  test("the low-risk rule fix runs by itself: chmod 644, nginx serves the file", async () => {
    const fix = await pollFor(
      "the permission-denied fix to be fixed",
      async () => {
        const r = await api.get<Page<FixView>>("/fixes?service=nginx", TOKENS.viewer);
        const f = r.body.items.find(
          (x) => x.source === "rule" && JSON.stringify(x.actions).includes(sc.lockedPath),
        );
        if (f && ["failed", "rolled_back", "refused"].includes(f.status))
          throw new PollAbort(`rule fix ended ${f.status}: ${f.status_reason}`);
        return f?.status === "fixed" ? f : null;
      },
      45_000,
    );
    expect(fix.risk).toBe("low");
    expect(fix.actions).toEqual([{ type: "run", program: "chmod", args: ["644", sc.lockedPath] }]);
    expect(statSync(sc.lockedPath).mode & 0o777).toBe(0o644);
    expect((await fetch(sc.lockedUrl)).status).toBe(200);
  });

  test("the medium-risk fix waits for approval, is approved over the API and run locally", async () => {
    const parked = await pollFor(
      "a fix awaiting approval",
      async () =>
        (await api.get<Page<FixView>>("/fixes?status=awaiting_approval", TOKENS.viewer)).body.items[0],
      45_000,
    );
    expect(parked.source).toBe("claude");
    expect(parked.risk).toBe("medium");
    expect(parked.actions[0]).toMatchObject({ type: "write_file", path: sc.nginx.confPath });
    // Nothing ran yet.
    expect(readFileSync(sc.nginx.confPath, "utf8")).toBe(sc.confBefore);
    expect(await sc.upload()).toBe(413);
    const logOffset = sc.logSize();

    // A viewer may not approve; an operator may.
    expect((await api.post(`/fixes/${parked.fix_id}/approve`, {}, TOKENS.viewer)).status).toBe(403);
    const approved = await api.post<FixView>(
      `/fixes/${parked.fix_id}/approve`,
      { note: "e2e" },
      TOKENS.operator,
    );
    expect(approved.status).toBe(200);
    expect(approved.body.status).toBe("queued");

    const done = await pollFor(
      "the approved fix to finish",
      async () => {
        const f = (await api.get<FixView>(`/fixes/${parked.fix_id}`, TOKENS.viewer)).body;
        return ["fixed", "failed", "rolled_back", "refused"].includes(f.status) ? f : null;
      },
      45_000,
    );
    expect(`${done.status}: ${done.status_reason}`).toStartWith("fixed");
    const phases = done.steps.map((s) => s.phase);
    expect(phases).toContain("backup");
    expect(phases).toContain("action");
    expect(phases).toContain("verify");
    expect(done.steps.every((s) => s.ok)).toBe(true);
    const conf = readFileSync(sc.nginx.confPath, "utf8");
    expect(conf).not.toBe(sc.confBefore);
    expect(conf).toContain("client_max_body_size 10m;");
    // Once the reload has taken, the upload that was refused is accepted.
    await sc.reloaded(logOffset);
    expect(await sc.upload()).toBe(200);

    await ws!.waitFor(
      "fix.status fixed on the socket",
      (m) =>
        m.event?.type === "fix.status" &&
        m.event.subject === parked.fix_id &&
        m.event.data?.status === "fixed",
    );
    // A second approval is refused: the fix is no longer waiting.
    expect((await api.post(`/fixes/${parked.fix_id}/approve`, {}, TOKENS.operator)).status).toBe(409);
    const incident = await api.get<{ status: string }>(`/errors/${parked.incident_id}`, TOKENS.viewer);
    expect(incident.body.status).toBe("fixed");
  });

  test("/metrics counts the events and the fixes", async () => {
    const text = await pollFor("both fixes in /metrics", async () => {
      const r = await api.text("/metrics");
      expect(r.status).toBe(200);
      return metricValue(r.body, "mcp_fixes_total", { outcome: "fixed" }) >= 2 ? r.body : null;
    });
    expect(
      metricValue(text, "mcp_events_ingested_total", {
        service: "nginx",
        pattern: "nginx-permission-denied",
      }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      metricValue(text, "mcp_events_ingested_total", { service: "nginx", pattern: "nginx-body-too-large" }),
    ).toBeGreaterThanOrEqual(1);
    // One analysis from the rule, one from Claude.
    expect(metricValue(text, "mcp_analyzer_calls_total", { source: "rule" })).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, "mcp_analyzer_calls_total", { source: "claude" })).toBeGreaterThanOrEqual(1);
  });

  test("SIGTERM: the process exits 0 in bounded time", async () => {
    ws?.close();
    ws = null;
    const code = await mcpmon!.signal("SIGTERM", 20_000);
    if (code !== 0) console.error(mcpmon!.output().slice(-4000));
    expect(code).toBe(0);
    mcpmon = null;
  });
});
