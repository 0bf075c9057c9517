/**
 * End to end against a real Redis (one server, or a Cluster): the compiled binary as `mcpmon serve`
 * (API, analyzers, executors) and, as a separate process, `mcpmon collect` tailing a real nginx's
 * error log and shipping to Redis. The rule fix runs by itself; the medium-risk fix from the (fake)
 * Claude is approved over the API and run by the local transport. Operators see the entries with
 * `redis-cli XINFO STREAM {mcp}:errors`, and the collector's heartbeat in GET /clients/{id}/status.
 * Run by e2e-redis.test.ts and e2e-cluster.test.ts.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
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
} from "./e2e-api.ts";
import { killAll, type McpmonProcess, mcpmonBinary, spawnMcpmon } from "./e2e-process.ts";
import { nginxPatternsFor, type Scenario, startScenario, TOKENS, tokensYaml } from "./e2e-scenario.ts";
import { freePort, tempDir } from "./harness/index.ts";

/** A Redis for the run: what serve and collect connect to, and redis-cli that finds any key. */
export interface RedisUnderTest {
  serveUrl: string;
  collectUrl: string;
  cli(args: string[]): Promise<string>;
  stop(): Promise<void>;
}

export function e2eOnRedis(target: {
  name: string;
  label: string;
  start: () => Promise<RedisUnderTest>;
}): void {
  const CLIENT = "e2e-redis-nginx";
  const tmp = tempDir(`mcpmon-e2e-${target.name}-`);
  const cwd = join(tmp.path, "run");
  const etc = join(tmp.path, "etc");
  let bin: string;
  let sc: Scenario;
  let redis: RedisUnderTest;
  let serve: McpmonProcess | null = null;
  let collect: McpmonProcess | null = null;
  let api: ApiClient;

  beforeAll(async () => {
    mkdirSync(cwd);
    mkdirSync(join(etc, "patterns"), { recursive: true });
    [bin, sc, redis] = await Promise.all([mcpmonBinary(), startScenario(), target.start()]);
    writeFileSync(join(etc, "patterns", "nginx.yml"), nginxPatternsFor(sc.nginx));
    writeFileSync(
      join(etc, "client.yml"),
      stringify({
        client_id: CLIENT,
        service_type: "nginx",
        host: "e2e-redis-host",
        log_paths: [sc.nginx.errorLog],
        read_from: "beginning",
        state_dir: join(tmp.path, "state"),
        health_check_interval: 1,
        poll_interval_ms: 100,
        health_check: { port: sc.nginx.port },
        broker: { url: redis.collectUrl },
      }),
    );
    const port = await freePort();
    writeFileSync(
      join(etc, "central.yml"),
      stringify({
        claude_api_key: "sk-ant-e2e-fake",
        claude: { base_url: sc.fake.url, batch_wait_ms: 200, max_retries: 1, timeout_s: 20 },
        token_limits: { max_tokens_per_minute: 1_000_000, batch_size: 5 },
        processing: { error_processors: 2, fix_executors: 1 },
        broker: { url: redis.serveUrl },
        api: { host: "127.0.0.1", port, tokens: tokensYaml() },
        // The collector's host is this one: its fixes run through the local transport.
        targets: { [CLIENT]: { transport: "local" } },
        executor: { auto_approve_max_risk: "low", backup_dir: join(tmp.path, "backups") },
        ssh_settings: { command_timeout: 20 },
        patterns_dir: "patterns",
      }),
    );
    api = apiClient(`http://127.0.0.1:${port}`);
  }, 120_000);

  afterAll(async () => {
    await killAll();
    await Promise.allSettled([sc?.stop(), redis?.stop()]);
    tmp.cleanup();
  }, 120_000);

  test(`serve + a separate collect on ${target.label}: incidents, an approved fix, XINFO, heartbeats`, async () => {
    serve = spawnMcpmon([bin, "serve", "--config", join(etc, "central.yml")], { cwd, name: "serve" });
    collect = spawnMcpmon([bin, "collect", "--config", join(etc, "client.yml")], { cwd, name: "collect" });
    await Promise.all([
      serve.waitForOutput(/fixes {6}rule fixes run without asking/),
      collect.waitForOutput(/following /),
    ]);
    expect(serve.output()).toContain(`broker     ${redis.serveUrl.split(",")[0]}`);
    expect(collect.output()).toContain(
      `collecting nginx logs as ${CLIENT} (host e2e-redis-host) → ${redis.collectUrl}`,
    );
    expect(collect.output()).toContain(`following ${sc.nginx.errorLog}`);

    // The collector's heartbeat reaches the API through Redis.
    const status = await pollFor("the collector's heartbeat", async () => {
      const r = await api.get<{ last_heartbeat: string | null; health: string }>(
        `/clients/${CLIENT}/status`,
        TOKENS.viewer,
      );
      return r.status === 200 && r.body.last_heartbeat && r.body.health === "ok" ? r.body : null;
    });
    expect(Date.now() - Date.parse(status.last_heartbeat!)).toBeLessThan(60_000);

    // Real nginx errors: a file its workers cannot read, a body above the limit.
    expect((await fetch(sc.lockedUrl)).status).toBe(403);
    expect(await sc.upload()).toBe(413);

    const incidents = await pollFor("both incidents in GET /errors", async () => {
      const r = await api.get<Page<IncidentView>>("/errors?service=nginx", TOKENS.viewer);
      const perm = r.body.items.find((i) => i.pattern_id === "nginx-permission-denied");
      const big = r.body.items.find((i) => i.pattern_id === "nginx-body-too-large");
      return perm && big ? { perm, big } : null;
    });
    expect(incidents.perm.fields?.path).toBe(sc.lockedPath);

    // What operators see in Redis itself.
    const xinfo = await redis.cli(["XINFO", "STREAM", "{mcp}:errors"]);
    const length = Number(/(?:^|\n)length\n(\d+)/.exec(xinfo)?.[1] ?? "0");
    expect(length).toBeGreaterThanOrEqual(2);
    expect(xinfo).toContain("nginx-permission-denied");
    expect(await redis.cli(["XINFO", "GROUPS", "{mcp}:errors"])).toContain("analyzers");

    // The rule fix (low risk) runs by itself.
    await pollFor(
      "the rule fix to be fixed",
      async () => {
        const r = await api.get<Page<FixView>>("/fixes?service=nginx", TOKENS.viewer);
        const f = r.body.items.find((x) => x.source === "rule");
        if (f && ["failed", "rolled_back", "refused"].includes(f.status))
          throw new PollAbort(`rule fix ended ${f.status}: ${f.status_reason}`);
        return f?.status === "fixed" ? f : null;
      },
      45_000,
    );
    expect(statSync(sc.lockedPath).mode & 0o777).toBe(0o644);
    expect((await fetch(sc.lockedUrl)).status).toBe(200);

    // The medium-risk fix waits for an operator, then runs.
    const parked = await pollFor(
      "a fix awaiting approval",
      async () =>
        (await api.get<Page<FixView>>("/fixes?status=awaiting_approval", TOKENS.viewer)).body.items[0],
      45_000,
    );
    expect(parked.risk).toBe("medium");
    expect(readFileSync(sc.nginx.confPath, "utf8")).toBe(sc.confBefore);
    const logOffset = sc.logSize();
    const approved = await api.post<FixView>(`/fixes/${parked.fix_id}/approve`, {}, TOKENS.operator);
    expect(approved.status).toBe(200);
    const done = await pollFor(
      "the approved fix to finish",
      async () => {
        const f = (await api.get<FixView>(`/fixes/${parked.fix_id}`, TOKENS.viewer)).body;
        return ["fixed", "failed", "rolled_back", "refused"].includes(f.status) ? f : null;
      },
      45_000,
    );
    expect(`${done.status}: ${done.status_reason}`).toStartWith("fixed");
    expect(done.steps.map((s) => s.phase)).toContain("action");
    expect(readFileSync(sc.nginx.confPath, "utf8")).toContain("client_max_body_size 10m;");
    await sc.reloaded(logOffset);
    expect(await sc.upload()).toBe(200);

    // The fix queue and the audit trail as operators see them, and the counts of the API instance.
    expect(await redis.cli(["XINFO", "GROUPS", "{mcp}:fixes"])).toContain("executors");
    const audit = await redis.cli(["XRANGE", "{mcp}:events", "-", "+"]);
    for (const type of ["error.new", "incident.status", "analysis.done", "fix.status"])
      expect(audit).toContain(`"type":"${type}"`);
    const metrics = await pollFor("fixed fixes in /metrics", async () => {
      const t = (await api.text("/metrics")).body;
      return metricValue(t, "mcp_fixes_total", { outcome: "fixed" }) >= 2 ? t : null;
    });
    expect(metricValue(metrics, "mcp_events_ingested_total", { service: "nginx" })).toBeGreaterThanOrEqual(2);

    // Both processes stop cleanly on SIGTERM.
    const [c1, c2] = await Promise.all([collect.signal("SIGTERM"), serve.signal("SIGTERM")]);
    if (c1 !== 0) console.error(collect.output().slice(-4000));
    if (c2 !== 0) console.error(serve.output().slice(-4000));
    expect([c1, c2]).toEqual([0, 0]);
  });
}
