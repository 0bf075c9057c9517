/**
 * The MCP server over Streamable HTTP at /mcp, driven by the SDK's own Client against a real
 * `mcpmon all` (and a second `serve` instance on the same broker): auth and DNS-rebinding checks,
 * the handshake and version negotiation, the tools (read, bad input, write refused without
 * mcp.allow_writes or the role, approve_fix audited in mcp:events), progress, resources, the
 * triage prompt, and a client whose requests alternate between the two instances.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { LoggingMessageNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { type FixView, type IncidentView, pollFor, type WsClient, wsClient } from "./e2e-api.ts";
import { type Mcpmon, seedFix, startMcpmon, TOKENS } from "./mcp-support.ts";

setDefaultTimeout(60_000);

let m: Mcpmon;
let seeded: { incident: IncidentView; fix: FixView };
const clients: Client[] = [];

async function connect(base: string, token: string, fetchImpl?: typeof fetch): Promise<Client> {
  const c = new Client({ name: "mcp-http-test", version: "1.0.0" });
  await c.connect(
    new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
      ...(fetchImpl ? { fetch: fetchImpl } : {}),
    }),
  );
  clients.push(c);
  return c;
}

const initialize = (version: string) => ({
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: version, capabilities: {}, clientInfo: { name: "raw", version: "1" } },
});
const rpcHeaders = { "content-type": "application/json", accept: "application/json, text/event-stream" };

/** The JSON-RPC message of a POST answered as JSON or as an SSE stream. */
async function rpcBody(
  res: Response,
): Promise<{ result?: Record<string, unknown>; error?: { message: string } }> {
  const text = await res.text();
  const data = text.startsWith("{") ? text : (/^data: (.*)$/m.exec(text)?.[1] ?? "{}");
  return JSON.parse(data);
}

const text = (r: object) => String((r as { content?: Array<{ text?: string }> }).content?.[0]?.text ?? "");

beforeAll(async () => {
  m = await startMcpmon({ second: true });
  seeded = await seedFix(m.api, "/var/www/html/mcp-http.html");
}, 120_000);

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {});
  await m?.stop();
});

describe("/mcp refuses before the protocol", () => {
  test("no token: 401 with WWW-Authenticate; a bad token says invalid_token", async () => {
    const res = await fetch(`${m.api.url}/mcp`, {
      method: "POST",
      headers: rpcHeaders,
      body: JSON.stringify(initialize("2025-11-25")),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toStartWith("Bearer");
    const bad = await fetch(`${m.api.url}/mcp`, {
      method: "POST",
      headers: { ...rpcHeaders, authorization: "Bearer nope-nope-nope" },
      body: JSON.stringify(initialize("2025-11-25")),
    });
    expect(bad.status).toBe(401);
    expect(bad.headers.get("www-authenticate")).toContain('error="invalid_token"');
  });

  test("a foreign Origin (DNS rebinding) is 403, a reporter token is 403", async () => {
    const evil = await fetch(`${m.api.url}/mcp`, {
      method: "POST",
      headers: { ...rpcHeaders, authorization: `Bearer ${TOKENS.viewer}`, origin: "http://attacker.example" },
      body: JSON.stringify(initialize("2025-11-25")),
    });
    expect(evil.status).toBe(403);
    expect((await rpcBody(evil)).error?.message).toContain("api.host_names");
    const reporter = await fetch(`${m.api.url}/mcp`, {
      method: "POST",
      headers: { ...rpcHeaders, authorization: `Bearer ${TOKENS.reporter}` },
      body: JSON.stringify(initialize("2025-11-25")),
    });
    expect(reporter.status).toBe(403);
    // The local Origin a desktop client's webview would send is fine.
    const local = await fetch(`${m.api.url}/mcp`, {
      method: "POST",
      headers: { ...rpcHeaders, authorization: `Bearer ${TOKENS.viewer}`, origin: "http://localhost:3000" },
      body: JSON.stringify(initialize("2025-11-25")),
    });
    expect(local.status).toBe(200);
  });

  test("Host must be one of the API's names (DNS rebinding): attacker.example 403, api.host_names 200", async () => {
    const port = new URL(m.api.url).port;
    const post = (host: string) =>
      fetch(`${m.api.url}/mcp`, {
        method: "POST",
        headers: { ...rpcHeaders, host, authorization: `Bearer ${TOKENS.viewer}` },
        body: JSON.stringify(initialize("2025-11-25")),
      });
    const evil = await post(`attacker.example:${port}`);
    expect(evil.status).toBe(403);
    expect((await rpcBody(evil)).error?.message).toContain("attacker.example");
    const named = await post(`mcpmon.internal:${port}`);
    expect(named.status).toBe(200);
    expect((await rpcBody(named)).result?.protocolVersion).toBe("2025-11-25");
  });

  test("stateless: no Mcp-Session-Id, GET is 405", async () => {
    const res = await fetch(`${m.api.url}/mcp`, {
      method: "POST",
      headers: { ...rpcHeaders, authorization: `Bearer ${TOKENS.viewer}` },
      body: JSON.stringify(initialize("2025-11-25")),
    });
    expect(res.headers.get("mcp-session-id")).toBeNull();
    await res.text();
    const get = await fetch(`${m.api.url}/mcp`, {
      headers: { accept: "text/event-stream", authorization: `Bearer ${TOKENS.viewer}` },
    });
    expect(get.status).toBe(405);
  });
});

describe("handshake", () => {
  test("protocol 2025-11-25 by default, 2025-06-18 when the client asks for it", async () => {
    for (const version of ["2025-11-25", "2025-06-18"]) {
      const res = await fetch(`${m.api.url}/mcp`, {
        method: "POST",
        headers: { ...rpcHeaders, authorization: `Bearer ${TOKENS.viewer}` },
        body: JSON.stringify(initialize(version)),
      });
      const body = await rpcBody(res);
      expect(body.result?.protocolVersion).toBe(version);
      expect((body.result?.serverInfo as { name?: string } | undefined)?.name).toBe("mcpmon");
    }
    const c = await connect(m.api.url, TOKENS.viewer);
    expect(c.getServerVersion()?.name).toBe("mcpmon");
    expect(c.getServerCapabilities()?.logging).toBeDefined();
    await c.ping();
  });
});

describe("tools", () => {
  test("a viewer sees read tools only; an operator also the write tools, annotated", async () => {
    const viewer = (await (await connect(m.api.url, TOKENS.viewer)).listTools()).tools;
    const names = viewer.map((t) => t.name);
    for (const n of [
      "list_incidents",
      "get_incident",
      "list_fixes",
      "get_fix",
      "queue_status",
      "token_status",
    ])
      expect(names).toContain(n);
    for (const n of ["list_clients", "client_status", "check_policy", "explain_pattern", "group_lines"])
      expect(names).toContain(n);
    expect(names).not.toContain("approve_fix");
    for (const t of viewer) {
      expect(t.inputSchema.type).toBe("object");
      expect(t.outputSchema?.type).toBe("object");
      expect(t.annotations?.readOnlyHint).toBe(true);
      expect((t.description ?? "").length).toBeGreaterThan(30);
    }
    const operator = (await (await connect(m.api.url, TOKENS.operator)).listTools()).tools;
    const approve = operator.find((t) => t.name === "approve_fix");
    expect(approve?.annotations).toMatchObject({
      readOnlyHint: false,
      destructiveHint: true,
      idempotentHint: true,
    });
    expect(operator.find((t) => t.name === "pause_processing")?.annotations?.destructiveHint).toBe(false);
  });

  test("list_incidents and get_incident show the incident and the fix that waits", async () => {
    const c = await connect(m.api.url, TOKENS.viewer);
    const list = await c.callTool({
      name: "list_incidents",
      arguments: { service: "nginx", client: "web-01" },
    });
    expect(list.isError).toBeFalsy();
    const page = list.structuredContent as { total: number; items: IncidentView[] };
    expect(page.items.map((i) => i.incident_id)).toContain(seeded.incident.incident_id);
    const other = await c.callTool({ name: "list_incidents", arguments: { client: "db-07" } });
    expect((other.structuredContent as { total: number }).total).toBe(0);
    const got = await c.callTool({ name: "get_incident", arguments: { id: seeded.incident.incident_id } });
    const d = got.structuredContent as { incident: { samples: string[] }; proposed_fix: FixView };
    expect(d.proposed_fix.fix_id).toBe(seeded.fix.fix_id);
    expect(d.proposed_fix.status).toBe("awaiting_approval");
    expect(d.incident.samples.join("\n")).toContain("mcp-http.html");
  });

  test("bad input and unknown ids are tool results with isError naming the problem", async () => {
    const c = await connect(m.api.url, TOKENS.viewer);
    const bad = await c.callTool({ name: "list_incidents", arguments: { limit: "many", status: "on-fire" } });
    expect(bad.isError).toBe(true);
    expect(text(bad)).toContain('argument "limit"');
    expect(text(bad)).toContain('argument "status"');
    const missing = await c.callTool({ name: "get_fix", arguments: {} });
    expect(missing.isError).toBe(true);
    expect(text(missing)).toContain('argument "id"');
    const unknown = await c.callTool({ name: "get_fix", arguments: { id: "fix_nope" } });
    expect(unknown.isError).toBe(true);
    expect(text(unknown)).toContain("404");
    const svc = await c.callTool({ name: "explain_pattern", arguments: { service: "ngnix" } });
    expect(text(svc)).toContain('argument "service"');
  });

  test("check_policy and explain_pattern answer from the policy", async () => {
    const c = await connect(m.api.url, TOKENS.viewer);
    const ok = await c.callTool({
      name: "check_policy",
      arguments: {
        service: "nginx",
        actions: [{ type: "run", program: "chmod", args: ["644", "/var/www/html/a.png"] }],
      },
    });
    expect(ok.structuredContent).toMatchObject({ allowed: true, risk: "low", needs_approval: true });
    const no = await c.callTool({
      name: "check_policy",
      arguments: { service: "nginx", actions: [{ type: "run", program: "rm", args: ["-rf", "/var/www"] }] },
    });
    expect(no.structuredContent).toMatchObject({ allowed: false });
    expect(JSON.stringify(no.structuredContent)).toContain('program \\"rm\\" is not in the policy');
    const p = await c.callTool({
      name: "explain_pattern",
      arguments: { service: "nginx", pattern_id: "nginx-permission-denied" },
    });
    const e = p.structuredContent as { fields: string[]; remediation: { declared_risk: string } };
    expect(e.fields).toContain("path");
    expect(e.remediation.declared_risk).toBe("low");
  });

  test("group_lines mines templates and reports progress", async () => {
    const c = await connect(m.api.url, TOKENS.viewer);
    const progress: Array<{ progress: number; total?: number }> = [];
    const lines = Array.from({ length: 2500 }, (_, i) =>
      i % 2 ? `user u${i} logged in from 10.0.0.${i % 250}` : `disk /dev/sd${i % 3} is ${i % 100}% full`,
    );
    const r = await c.callTool({ name: "group_lines", arguments: { lines } }, undefined, {
      onprogress: (p) => progress.push(p),
    });
    const out = r.structuredContent as {
      lines: number;
      templates: Array<{ count: number; template: string }>;
    };
    expect(out.lines).toBe(2500);
    expect(out.templates.map((t) => t.count).sort()).toEqual([1250, 1250]);
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.at(-1)).toMatchObject({ progress: 2500, total: 2500 });
  });
});

describe("write tools", () => {
  test("refused on an instance without mcp.allow_writes; the fix still waits", async () => {
    const c = await connect(m.second!.url, TOKENS.operator);
    expect((await c.listTools()).tools.map((t) => t.name)).not.toContain("approve_fix");
    const r = await c.callTool({ name: "approve_fix", arguments: { id: seeded.fix.fix_id } });
    expect(r.isError).toBe(true);
    expect(text(r)).toContain("mcp.allow_writes");
    const fix = await m.api.get<FixView>(`/fixes/${seeded.fix.fix_id}`, TOKENS.viewer);
    expect(fix.body.status).toBe("awaiting_approval");
  });

  test("refused to a viewer with 403, where writes are allowed", async () => {
    const c = await connect(m.api.url, TOKENS.viewer);
    const r = await c.callTool({ name: "approve_fix", arguments: { id: seeded.fix.fix_id } });
    expect(r.isError).toBe(true);
    expect(text(r)).toContain("403");
    expect(text(r)).toContain("operator role");
  });

  let ws: WsClient | null = null;
  afterAll(() => ws?.close());

  test("approve_fix queues the fix, as the operator, audited in mcp:events with the token name", async () => {
    ws = await wsClient(m.api.url, TOKENS.viewer);
    await ws.subscribe("system");
    await ws.subscribe("fixes");
    const c = await connect(m.api.url, TOKENS.operator);
    const logs: string[] = [];
    c.setNotificationHandler(
      LoggingMessageNotificationSchema,
      (n) => void logs.push(JSON.stringify(n.params)),
    );
    const r = await c.callTool({
      name: "approve_fix",
      arguments: { id: seeded.fix.fix_id, note: "via mcp" },
    });
    expect(r.isError).toBeFalsy();
    expect(r.structuredContent).toMatchObject({ fix_id: seeded.fix.fix_id, status: "queued" });
    const rest = await m.api.get<FixView & { approval: { by: string; note: string } }>(
      `/fixes/${seeded.fix.fix_id}`,
      TOKENS.viewer,
    );
    expect(rest.body.status).toBe("queued");
    expect(rest.body.approval).toMatchObject({ by: "e2e-operator", note: "via mcp" });
    const audit = await ws.waitFor(
      "mcp.tool approve_fix",
      (e) => e.event?.type === "mcp.tool" && e.event.subject === "approve_fix" && e.event.data?.ok === true,
    );
    expect(audit.event?.data).toMatchObject({ by: "e2e-operator", transport: "http" });
    await ws.waitFor(
      "fix.status approved_by the token",
      (e) => e.event?.type === "fix.status" && e.event.data?.approved_by === "e2e-operator",
    );
    expect(logs.join("\n")).toContain("approve_fix");
    // A second approval is refused (409) and audited as refused.
    const again = await c.callTool({ name: "approve_fix", arguments: { id: seeded.fix.fix_id } });
    expect(again.isError).toBe(true);
    expect(text(again)).toContain("409");
    await ws.waitFor("the refused call", (e) => e.event?.type === "mcp.tool" && e.event.data?.ok === false);
  });
});

test("pause_processing and resume_processing change what /queues/status says, by the token's name", async () => {
  const c = await connect(m.api.url, TOKENS.operator);
  const paused = await c.callTool({ name: "pause_processing", arguments: {} });
  expect(paused.structuredContent).toEqual({ paused: true });
  expect((await m.api.get<{ paused: boolean }>("/queues/status", TOKENS.viewer)).body.paused).toBe(true);
  const ws = await wsClient(m.api.url, TOKENS.viewer);
  try {
    await ws.subscribe("system");
    const resumed = await c.callTool({ name: "resume_processing", arguments: {} });
    expect(resumed.structuredContent).toEqual({ paused: false });
    await ws.waitFor(
      "processing.resumed by the operator",
      (e) => e.event?.type === "processing.resumed" && e.event.data?.by === "e2e-operator",
    );
  } finally {
    ws.close();
  }
  expect((await m.api.get<{ paused: boolean }>("/queues/status", TOKENS.viewer)).body.paused).toBe(false);
});

describe("resources and prompts", () => {
  test("list, templates, read; an unknown id is an error, not a crash", async () => {
    const c = await connect(m.api.url, TOKENS.viewer);
    const uris = (await c.listResources()).resources.map((r) => r.uri);
    expect(uris).toContain("mcpmon://patterns/nginx");
    expect(uris).toContain(`mcpmon://incidents/${seeded.incident.incident_id}`);
    const templates = (await c.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate);
    expect(templates).toEqual([
      "mcpmon://incidents/{id}",
      "mcpmon://fixes/{id}",
      "mcpmon://patterns/{service}",
    ]);
    const fix = await c.readResource({ uri: `mcpmon://fixes/${seeded.fix.fix_id}` });
    expect(JSON.parse(String((fix.contents[0] as { text: string }).text)).fix_id).toBe(seeded.fix.fix_id);
    const pat = await c.readResource({ uri: "mcpmon://patterns/nginx" });
    const md = String((pat.contents[0] as { text: string }).text);
    expect(md).toContain("What mcpmon may do");
    expect(md).toContain("nginx-permission-denied");
    await expect(c.readResource({ uri: "mcpmon://fixes/fix_nope" })).rejects.toThrow(/no fix with id/);
    expect((await c.listTools()).tools.length).toBeGreaterThan(5); // the server still answers
  });

  test("triage: an incident id becomes an investigation prompt with fenced samples", async () => {
    const c = await connect(m.api.url, TOKENS.viewer);
    expect((await c.listPrompts()).prompts.map((p) => p.name)).toEqual(["triage"]);
    const p = await c.getPrompt({ name: "triage", arguments: { incident_id: seeded.incident.incident_id } });
    const t = String((p.messages[0]!.content as { text: string }).text);
    expect(t).toContain(seeded.incident.incident_id);
    expect(t).toContain("<samples>");
    expect(t).toContain("explain_pattern");
    await expect(c.getPrompt({ name: "triage", arguments: { incident_id: "inc_nope" } })).rejects.toThrow(
      /404/,
    );
  });
});

test("stateless across instances: one client's requests alternate between two API processes", async () => {
  const bases = [m.api.url, m.second!.url];
  const seen = new Set<string>();
  let n = 0;
  const roundRobin = ((input: string | URL | Request, init?: RequestInit) => {
    const base = bases[n++ % 2]!;
    seen.add(base);
    const url = new URL(String(input instanceof Request ? input.url : input));
    return fetch(`${base}${url.pathname}${url.search}`, init);
  }) as typeof fetch;
  const c = await connect(m.api.url, TOKENS.viewer, roundRobin);
  for (let i = 0; i < 4; i++) {
    const r = await c.callTool({ name: "list_incidents", arguments: {} });
    expect(r.isError).toBeFalsy();
    expect((r.structuredContent as { total: number }).total).toBeGreaterThanOrEqual(1);
  }
  expect(seen.size).toBe(2);
  await pollFor("both instances answered", () => n >= 6);
});
