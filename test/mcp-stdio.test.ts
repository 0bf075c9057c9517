/**
 * `mcpmon mcp` on stdio, spawned from the source by the SDK's own StdioClientTransport as a
 * desktop client would, against a real `mcpmon all`: through its API (MCP_API_URL + MCP_TOKEN),
 * with a subscription fed by mcp:events and a logging level that holds for the session; and with
 * the config's broker opened directly. A wrong token fails at start with exit 1, naming the 401.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import {
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { type FixView, type IncidentView, pollFor } from "./e2e-api.ts";
import { ROOT, spawnMcpmon } from "./e2e-process.ts";
import { type Mcpmon, seedFix, startMcpmon, TOKENS } from "./mcp-support.ts";

setDefaultTimeout(60_000);

let m: Mcpmon;
let seeded: { incident: IncidentView; fix: FixView };
const clients: Client[] = [];

async function stdio(
  args: string[],
  env: Record<string, string>,
): Promise<{ c: Client; stderr: () => string }> {
  let err = "";
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [join(ROOT, "cli", "main.ts"), "mcp", ...args],
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: m.dir, ...env },
    cwd: m.dir,
    stderr: "pipe",
  });
  transport.stderr?.on("data", (d) => {
    err += String(d);
  });
  const c = new Client({ name: "mcp-stdio-test", version: "1.0.0" });
  await c.connect(transport);
  clients.push(c);
  return { c, stderr: () => err };
}

const text = (r: object) => String((r as { content?: Array<{ text?: string }> }).content?.[0]?.text ?? "");

beforeAll(async () => {
  m = await startMcpmon();
  seeded = await seedFix(m.api, "/var/www/html/mcp-stdio.html");
}, 120_000);

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {});
  await m?.stop();
});

describe("mcpmon mcp through the API (MCP_API_URL + MCP_TOKEN)", () => {
  test("a subscribed fix is updated from mcp:events when reject_fix changes it", async () => {
    const { c } = await stdio([], { MCP_API_URL: m.api.url, MCP_TOKEN: TOKENS.operator });
    expect(c.getServerCapabilities()?.resources?.subscribe).toBe(true);
    await c.ping();
    const updates: string[] = [];
    c.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updates.push(n.params.uri));
    const uri = `mcpmon://fixes/${seeded.fix.fix_id}`;
    await c.subscribeResource({ uri });
    // The server's mcp.allow_writes (true for this `all`) decides that write tools are offered.
    expect((await c.listTools()).tools.map((t) => t.name)).toContain("reject_fix");
    const r = await c.callTool({
      name: "reject_fix",
      arguments: { id: seeded.fix.fix_id, reason: "from stdio" },
    });
    expect(r.isError).toBeFalsy();
    expect(r.structuredContent).toMatchObject({ status: "rejected" });
    await pollFor("notifications/resources/updated for the fix", () => updates.includes(uri), 15_000);
    const rest = await m.api.get<{ status: string; rejection: { by: string } }>(
      `/fixes/${seeded.fix.fix_id}`,
      TOKENS.viewer,
    );
    expect(rest.body).toMatchObject({ status: "rejected", rejection: { by: "e2e-operator" } });
    const bad = await c.callTool({ name: "reject_fix", arguments: { id: seeded.fix.fix_id } });
    expect(bad.isError).toBe(true);
    expect(text(bad)).toContain('argument "reason"');
  });

  test("logging/setLevel holds for the session", async () => {
    const { c } = await stdio([], { MCP_API_URL: m.api.url, MCP_TOKEN: TOKENS.viewer });
    const logs: string[] = [];
    c.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(n.params.level));
    await c.setLoggingLevel("error");
    await c.callTool({ name: "queue_status", arguments: {} });
    await c.setLoggingLevel("debug");
    const q = await c.callTool({ name: "queue_status", arguments: {} });
    expect((q.structuredContent as { streams: unknown[] }).streams.length).toBe(4);
    await pollFor("a debug log after setLevel debug", () => logs.includes("debug"), 5000);
    expect(logs).toEqual(["debug"]); // nothing from the call made at level error
  });

  test("a wrong token: exit 1 at start, naming the 401", async () => {
    const p = spawnMcpmon([process.execPath, join(ROOT, "cli", "main.ts"), "mcp"], {
      cwd: m.dir,
      env: { MCP_API_URL: m.api.url, MCP_TOKEN: "not-a-token-at-all" },
      name: "mcp-bad-token",
    });
    expect(await p.exited(20_000)).toBe(1);
    expect(p.output()).toContain("401");
  });
});

describe("mcpmon mcp --config (the broker opened here)", () => {
  test("reads the incidents; without a token it is a viewer and may not approve", async () => {
    const { c } = await stdio(["--config", m.configFile], {});
    const list = await c.callTool({ name: "list_incidents", arguments: { service: "nginx" } });
    const ids = (list.structuredContent as { items: IncidentView[] }).items.map((i) => i.incident_id);
    expect(ids).toContain(seeded.incident.incident_id);
    const names = (await c.listTools()).tools.map((t) => t.name);
    expect(names).not.toContain("approve_fix");
    const r = await c.callTool({ name: "approve_fix", arguments: { id: seeded.fix.fix_id } });
    expect(r.isError).toBe(true);
    expect(text(r)).toContain("operator role");
  });

  test("with an operator MCP_TOKEN it acts as that token, audited with its name", async () => {
    const { c } = await stdio(["--config", m.configFile], { MCP_TOKEN: TOKENS.operator });
    const r = await c.callTool({
      name: "ignore_incident",
      arguments: { id: seeded.incident.incident_id, reason: "stdio local" },
    });
    expect(r.isError).toBeFalsy();
    expect(r.structuredContent).toMatchObject({ status: "ignored" });
    const inc = await m.api.get<{ incident: { status: string; status_reason: string } }>(
      `/errors/${seeded.incident.incident_id}`,
      TOKENS.viewer,
    );
    expect(inc.body.incident.status).toBe("ignored");
    expect(inc.body.incident.status_reason).toContain("e2e-operator");
  });
});
