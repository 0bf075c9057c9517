/**
 * The operator CLI (`mcpmon incidents | incident | fixes | approve | reject | ignore | status |
 * queues`) run from the source against a real `mcpmon all`: aligned tables and --json, the token
 * from MCP_TOKEN or a 0600 credentials file (refused when others can read it), exit 1 naming the
 * API's refusal or an unreachable API, exit 2 for a usage mistake.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { FixView, IncidentView } from "./e2e-api.ts";
import { ROOT, spawnMcpmon } from "./e2e-process.ts";
import { freePort } from "./harness/index.ts";
import { type Mcpmon, seedFix, startMcpmon, TOKENS } from "./mcp-support.ts";

setDefaultTimeout(60_000);

let m: Mcpmon;
let seeded: { incident: IncidentView; fix: FixView };

async function cli(args: string[], env: Record<string, string> = {}) {
  const p = spawnMcpmon([process.execPath, join(ROOT, "cli", "main.ts"), ...args], {
    cwd: m.dir,
    env: { HOME: join(m.dir, "home"), ...env },
    name: args[0],
  });
  const code = await p.exited(30_000);
  await p.kill();
  return { code, out: p.output() };
}

const as = (token: string) => ({ MCP_API_URL: m.api.url, MCP_TOKEN: token });

beforeAll(async () => {
  m = await startMcpmon();
  mkdirSync(join(m.dir, "home"), { recursive: true });
  seeded = await seedFix(m.api, "/var/www/html/cli-operator.html");
}, 120_000);

afterAll(async () => {
  await m?.stop();
});

describe("reading", () => {
  test("incidents: an aligned table; --json is the API's page", async () => {
    const r = await cli(["incidents", "--service", "nginx"], as(TOKENS.viewer));
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^ID\s+STATUS\s+SERVICE\s+COUNT\s+LAST SEEN\s+HOSTS\s+TEMPLATE$/);
    const row = lines.find((l) => l.startsWith(seeded.incident.incident_id))!;
    expect(row).toContain("awaiting_approval");
    // Columns line up: STATUS starts at the same offset in the header and the row.
    expect(row.indexOf("awaiting_approval")).toBe(lines[0]!.indexOf("STATUS"));
    expect(lines.at(-1)).toBe("1 incident(s)");
    const j = await cli(["incidents", "--status", "awaiting_approval", "--json"], as(TOKENS.viewer));
    expect(j.code).toBe(0);
    const page = JSON.parse(j.out) as { total: number; items: IncidentView[] };
    expect(page.items.map((i) => i.incident_id)).toEqual([seeded.incident.incident_id]);
    const none = await cli(["incidents", "--status", "fixed", "--json"], as(TOKENS.viewer));
    expect(JSON.parse(none.out).total).toBe(0);
  });

  test("incident ID shows the samples and its fix; fixes --status lists what waits", async () => {
    const r = await cli(["incident", seeded.incident.incident_id], as(TOKENS.viewer));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^incident\s+inc_/);
    expect(r.out).toContain("/var/www/html/cli-operator.html");
    expect(r.out).toContain(seeded.fix.fix_id);
    const f = await cli(["fixes", "--status", "awaiting_approval"], as(TOKENS.viewer));
    expect(f.code).toBe(0);
    expect(f.out).toContain(`run chmod 644 /var/www/html/cli-operator.html`);
  });

  test("status and queues", async () => {
    const s = await cli(["status"], as(TOKENS.viewer));
    expect(s.code).toBe(0);
    expect(s.out).toMatch(/^status\s+ok/m);
    expect(s.out).toMatch(/^analyzers\s+yes\s+1/m);
    const q = await cli(["queues"], as(TOKENS.viewer));
    expect(q.code).toBe(0);
    expect(q.out).toMatch(/^mcp:errors\s+\d+\s+analyzers/m);
    expect(q.out).toContain("processing running");
  });
});

describe("acting", () => {
  test("a viewer may not approve: exit 1 naming the 403", async () => {
    const r = await cli(["approve", seeded.fix.fix_id], as(TOKENS.viewer));
    expect(r.code).toBe(1);
    expect(r.out).toContain("answered 403 forbidden");
  });

  test("approve queues the fix as the operator; a second approve is a 409", async () => {
    const r = await cli(["approve", seeded.fix.fix_id, "--note", "from the cli"], as(TOKENS.operator));
    expect(r.code).toBe(0);
    expect(r.out.trim()).toBe(`fix ${seeded.fix.fix_id}: queued (approved by e2e-operator)`);
    const rest = await m.api.get<{ status: string; approval: { note: string } }>(
      `/fixes/${seeded.fix.fix_id}`,
      TOKENS.viewer,
    );
    expect(rest.body).toMatchObject({ status: "queued", approval: { note: "from the cli" } });
    const again = await cli(["approve", seeded.fix.fix_id], as(TOKENS.operator));
    expect(again.code).toBe(1);
    expect(again.out).toContain("409");
  });

  test("reject needs --reason (exit 2); ignore marks the incident", async () => {
    const r = await cli(["reject", seeded.fix.fix_id], as(TOKENS.operator));
    expect(r.code).toBe(2);
    expect(r.out).toContain("--reason");
    const i = await cli(
      ["ignore", seeded.incident.incident_id, "--reason", "noise", "--json"],
      as(TOKENS.operator),
    );
    expect(i.code).toBe(0);
    expect(JSON.parse(i.out).status).toBe("ignored");
  });
});

describe("where the API and token come from", () => {
  test("no token: exit 1 naming the 401 and MCP_TOKEN", async () => {
    const r = await cli(["incidents"], { MCP_API_URL: m.api.url });
    expect(r.code).toBe(1);
    expect(r.out).toContain(`the API at ${m.api.url} answered 401`);
    expect(r.out).toContain("MCP_TOKEN");
  });

  test("an API that is not there: exit 1 naming it", async () => {
    const r = await cli(["status", "--api", `http://127.0.0.1:${await freePort()}`], {
      MCP_TOKEN: TOKENS.viewer,
    });
    expect(r.code).toBe(1);
    expect(r.out).toContain("cannot reach the API at http://127.0.0.1:");
  });

  test("the credentials file: used at 0600, refused when others can read it", async () => {
    const dir = join(m.dir, "home", ".config", "mcpmon");
    mkdirSync(dir, { recursive: true });
    const file = join(dir, "credentials");
    writeFileSync(file, `# written by the test\napi_url = ${m.api.url}\ntoken = "${TOKENS.viewer}"\n`);
    chmodSync(file, 0o644);
    const open = await cli(["status"]);
    expect(open.code).toBe(2);
    expect(open.out).toContain(`chmod 600 ${file}`);
    chmodSync(file, 0o600);
    const ok = await cli(["queues", "--json"]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.out).streams.length).toBe(4);
  });
});
