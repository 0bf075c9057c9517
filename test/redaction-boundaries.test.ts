/**
 * Every way into the system redacts before anything is stored or appended: the raw `mcp:errors`
 * entry of `POST /errors`, audit events, heartbeats, fix steps, the analyzer's prompt, and
 * mcpmon's own log lines.
 * Each test looks at what the broker (or stderr) really holds and asserts the secret is absent.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { incidentBlock } from "../analyzer/claude/prompt.ts";
import { makeTestApp, TOKENS } from "../api/test-support.ts";
import { publishEvent } from "../broker/records.ts";
import { sendHeartbeat } from "../collector/heartbeat.ts";
import type { Incident } from "../core/schemas/incident.ts";
import { FixAudit } from "../executor/audit.ts";

let current: ReturnType<typeof makeTestApp> | null = null;
afterEach(async () => {
  await current?.broker.close();
  current = null;
});
const setup = () => {
  current = makeTestApp();
  return current;
};
const now = new Date().toISOString();

describe("redaction at every way in", () => {
  test("POST /errors: the raw mcp:errors entry keeps neither the message's nor a field's secret", async () => {
    const { call, broker } = setup();
    const body = {
      client_id: "web-01",
      host: "web-01",
      service: "nginx",
      message: "login failed for bob password=hunter2 via postgres://app:Zx9pQ2w@db/shop",
      fields: { password: "s3cr3t-field", user: "bob" },
    };
    expect((await call("POST", "/errors", { token: TOKENS.operator, body })).status).toBe(202);
    const [entry] = await broker.range(broker.keys.errors);
    const raw = JSON.stringify(entry);
    for (const s of ["hunter2", "Zx9pQ2w", "s3cr3t-field"]) expect(raw).not.toContain(s);
    expect(raw).toContain("login failed for bob");
    expect(raw).toContain('\\"user\\":\\"bob\\"');
  });

  test("audit events, heartbeats and fix steps are redacted before they are written", async () => {
    const { broker } = setup();
    await publishEvent(broker, {
      type: "fix.status",
      channel: "fixes",
      subject: "f1",
      data: { reason: "ssh failed: sshpass -p Lan9tern ssh web1" },
    });
    await sendHeartbeat(
      broker,
      {
        client_id: "web-01",
        host: "web-01",
        service_type: "redis",
        version: "0.1.0",
        files: [],
        lag_bytes: 0,
        spool_depth: 0,
        spool_bytes: 0,
        reading_paused: false,
        counters: {},
      },
      { health: "degraded", detail: "redis-cli -a Cop9perPw ping: NOAUTH", latency_ms: 1 },
    );
    await broker.putRecord(
      "fix",
      "f1",
      {
        fix_id: "f1",
        steps: [],
        run: { executor: "e1", token: 7, started_at: now },
        status: "executing",
      },
      0,
    );
    await new FixAudit(broker, "f1", 7).step({
      phase: "action",
      description: "psql -c 'select 1'",
      ok: false,
      stderr: 'psql: error: connection to "postgresql://app:Orc9hidPw@db/shop" failed',
      started_at: now,
      duration_ms: 3,
    });
    const events = JSON.stringify(await broker.range(broker.keys.events));
    const client = JSON.stringify(await broker.getRecord("client", "web-01"));
    const fix = JSON.stringify(await broker.getRecord("fix", "f1"));
    for (const [where, text] of [
      ["events", events],
      ["client record", client],
      ["fix record", fix],
    ])
      for (const s of ["Lan9tern", "Cop9perPw", "Orc9hidPw"]) expect(text, where).not.toContain(s);
    expect(fix).toContain("[REDACTED:url-password]");
    expect(client).toContain("[REDACTED:password]");
  });

  test("mcpmon's own log lines are redacted (JSON on stderr)", async () => {
    const script = `import { createLogger } from ${JSON.stringify(join(import.meta.dir, "../core/log.ts"))};
const log = createLogger({ pretty: false });
log.warn({ url: "redis://:Sa9ffronPw@cache:6379" }, "broker unreachable, token=Qw3rTy9zX1");`;
    const p = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
    const [err] = await Promise.all([new Response(p.stderr).text(), p.exited]);
    expect(err).toContain("broker unreachable");
    expect(err).not.toContain("Sa9ffronPw");
    expect(err).not.toContain("Qw3rTy9zX1");
  });

  test("the prompt: a field's value under a secret key goes, although it holds no key itself", () => {
    const inc = {
      incident_id: "inc1",
      service: "odoo",
      pattern_id: "odoo-db-auth",
      severity: "error",
      category: "auth",
      count: 1,
      hosts: ["web-01"],
      first_seen: now,
      last_seen: now,
      template: "connect failed for <*>",
      samples: ["connect failed password=Ha9rbor1"],
      fields: { password: "Velvet9185", db: "shop" },
    } as unknown as Incident;
    const block = incidentBlock(inc);
    expect(block).not.toContain("Velvet9185");
    expect(block).not.toContain("Ha9rbor1");
    expect(block).toContain("shop");
  });
});
