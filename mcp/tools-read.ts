/**
 * The read-only tools: what is failing, what fix waits, how the queues and budget look, and the
 * pure questions (would the policy allow this, what does a pattern mean, how do these lines group)
 * that need no broker. Every one is `readOnlyHint`; none changes anything anywhere.
 */
import * as v from "valibot";
import type { ListQuery } from "../api/schemas.ts";
import { redact } from "../core/redact/index.ts";
import { FixStatus } from "../core/schemas/fix.ts";
import { IncidentStatus } from "../core/schemas/incident.ts";
import { checkPolicy, explainPattern, groupLines } from "./knowledge.ts";
import { anyObject, obj, pageOf, type ToolDef, tool } from "./tool-kit.ts";

const READ = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };
const Id = (what: string) => v.pipe(v.string(), v.minLength(1), v.maxLength(200), v.description(what));
const Limit = v.optional(
  v.pipe(
    v.number(),
    v.integer(),
    v.minValue(1),
    v.maxValue(200),
    v.description("page size, 1-200 (default 20)"),
  ),
  20,
);
const Offset = v.optional(
  v.pipe(v.number(), v.integer(), v.minValue(0), v.description("items to skip (default 0)")),
  0,
);
const Since = v.optional(
  v.pipe(
    v.string(),
    v.isoTimestamp(),
    v.description("only items seen since this ISO time, e.g. 2026-12-04T10:00:00Z"),
  ),
);

const incidentItem = obj({
  incident_id: { type: "string" },
  status: { type: "string" },
  service: { type: "string" },
  pattern_id: { type: "string" },
  template: { type: "string" },
  count: { type: "integer" },
  hosts: { type: "array", items: { type: "string" } },
  client_ids: { type: "array", items: { type: "string" } },
  last_seen: { type: "string" },
});
const fixItem = obj({
  fix_id: { type: "string" },
  incident_id: { type: "string" },
  status: { type: "string" },
  risk: { type: "string" },
  source: { type: "string" },
  actions: { type: "array" },
  steps: { type: "array" },
});

const page = (q: { limit: number; offset: number }) => ({ limit: String(q.limit), offset: String(q.offset) });

export const READ_TOOLS: ToolDef[] = [
  tool({
    name: "list_incidents",
    title: "List incidents",
    description:
      "Incidents (one per recurring error: a service's pattern and message template), newest first. Filter by status (e.g. needs_human, awaiting_approval, fixed), service (nginx, postgres…), client id (the host's collector, e.g. web-01) and since. Paginated: total says how many match.",
    input: v.strictObject({
      status: v.optional(
        v.pipe(IncidentStatus, v.description(`one of ${IncidentStatus.options.join(", ")}`)),
      ),
      service: v.optional(v.pipe(v.string(), v.maxLength(100), v.description("service name, e.g. nginx"))),
      client: v.optional(v.pipe(v.string(), v.maxLength(200), v.description("client id, e.g. web-01"))),
      since: Since,
      limit: Limit,
      offset: Offset,
    }),
    output: pageOf(incidentItem),
    annotations: READ,
    role: "viewer",
    run: async (a, { backend }) => {
      const q: ListQuery = { ...a, ...page(a) };
      return { ...(await backend.listIncidents(q)) };
    },
  }),
  tool({
    name: "get_incident",
    title: "Get an incident",
    description:
      "One incident by id (or a submitted error by its event id): message template, redacted sample records, fields, status history, diagnosis, and its fixes with the proposed one (actions, risk, approval).",
    input: v.strictObject({ id: Id("incident id (or event id of a submitted error)") }),
    output: obj({
      kind: { type: "string", enum: ["incident", "event"] },
      status: { type: "string" },
      incident: anyObject,
      fixes: { type: "array", items: anyObject },
      history: { type: "array" },
      proposed_fix: { type: ["object", "null"] },
    }),
    annotations: READ,
    role: "viewer",
    run: async ({ id }, { backend }) => {
      const d = (await backend.incident(id)) as Record<string, unknown> & {
        incident?: { samples?: string[] };
        fixes?: Array<{ status: string }>;
      };
      // Samples were redacted when they came in; redacted again because this text goes to a model.
      if (d.incident?.samples)
        d.incident = { ...d.incident, samples: d.incident.samples.map((s) => redact(s).text) };
      const fixes = d.fixes ?? [];
      const proposed = fixes.find((f) => f.status === "awaiting_approval") ?? fixes.at(-1) ?? null;
      return d.kind === "incident" ? { ...d, proposed_fix: proposed } : d;
    },
  }),
  tool({
    name: "list_fixes",
    title: "List fixes",
    description:
      "Fixes, newest first: typed actions, risk, source (rule, claude, cache), status. status awaiting_approval lists what waits for an operator. Paginated.",
    input: v.strictObject({
      status: v.optional(v.pipe(FixStatus, v.description(`one of ${FixStatus.options.join(", ")}`))),
      service: v.optional(v.pipe(v.string(), v.maxLength(100))),
      limit: Limit,
      offset: Offset,
    }),
    output: pageOf(fixItem),
    annotations: READ,
    role: "viewer",
    run: async (a, { backend }) => ({ ...(await backend.listFixes({ ...a, ...page(a) })) }),
  }),
  tool({
    name: "get_fix",
    title: "Get a fix",
    description:
      "One fix: its actions, preconditions, verify and rollback steps, risk, approval or rejection, and every step that ran with its exit code and (redacted) output.",
    input: v.strictObject({ id: Id("fix id") }),
    output: fixItem,
    annotations: READ,
    role: "viewer",
    run: async ({ id }, { backend }) => ({ ...(await backend.fix(id)) }),
  }),
  tool({
    name: "queue_status",
    title: "Queue status",
    description:
      "Per stream (mcp:errors, mcp:fixes, mcp:events, mcp:dlq): length, pending entries, lag, consumers and the oldest pending age; and whether processing is paused.",
    input: v.strictObject({}),
    output: obj({ streams: { type: "array" }, paused: { type: "boolean" } }),
    annotations: READ,
    role: "viewer",
    run: async (_a, { backend }) => ({ ...((await backend.queues()) as object) }),
  }),
  tool({
    name: "token_status",
    title: "Claude token budget",
    description:
      "The analyzers' shared Claude budget: tokens used and left this minute, totals, calls, cache hits, cost.",
    input: v.strictObject({}),
    output: anyObject,
    annotations: READ,
    role: "viewer",
    run: async (_a, { backend }) => ({ ...((await backend.tokens()) as object) }),
  }),
  tool({
    name: "list_clients",
    title: "List clients",
    description: "Clients (collectors on hosts): id, host, service, health, last heartbeat.",
    input: v.strictObject({}),
    output: obj({ total: { type: "integer" }, items: { type: "array" } }, ["total", "items"]),
    annotations: READ,
    role: "viewer",
    run: async (_a, { backend }) => ({ ...(await backend.clients()) }),
  }),
  tool({
    name: "client_status",
    title: "Client status",
    description:
      "One client: health, last heartbeat and its age, files followed with lag, spool depth, whether reading is paused, counters.",
    input: v.strictObject({ id: Id("client id, e.g. web-01") }),
    output: obj({ client_id: { type: "string" }, health: { type: "string" } }),
    annotations: READ,
    role: "viewer",
    run: async ({ id }, { backend }) => ({ ...((await backend.client(id)) as object) }),
  }),
  tool({
    name: "check_policy",
    title: "Check actions against a service policy",
    description:
      'Would these fix actions be allowed on this service, and why: for each, the rule that allows it and its risk, or the reason it is refused; then the overall risk and whether such a fix would wait for an operator. Actions: {"type":"run","program":"chmod","args":["644","/var/www/html/x.png"]}, {"type":"write_file","path":"…","content":"…"}, {"type":"service","op":"reload"}.',
    input: v.strictObject({
      service: v.pipe(v.string(), v.minLength(1), v.maxLength(100), v.description("service, e.g. nginx")),
      actions: v.pipe(
        v.array(v.record(v.string(), v.unknown())),
        v.minLength(1),
        v.maxLength(50),
        v.description("the actions to check, in order"),
      ),
      source: v.optional(
        v.pipe(v.picklist(["rule", "claude"]), v.description("who would propose them (default rule)")),
        "rule",
      ),
    }),
    output: obj({ allowed: { type: "boolean" }, risk: { type: "string" }, verdicts: { type: "array" } }, [
      "allowed",
      "verdicts",
    ]),
    annotations: READ,
    role: "viewer",
    run: async (a, ctx) => checkPolicy(ctx, a.service, a.actions, a.source),
  }),
  tool({
    name: "explain_pattern",
    title: "Explain an error pattern",
    description:
      "What a service's error pattern matches (regex, fields, examples and counter-examples), its known remediation and that remediation's risk under the policy. Without pattern_id: every pattern of the service, one line each.",
    input: v.strictObject({
      service: v.pipe(v.string(), v.minLength(1), v.maxLength(100), v.description("service, e.g. nginx")),
      pattern_id: v.optional(
        v.pipe(v.string(), v.maxLength(200), v.description("e.g. nginx-permission-denied")),
      ),
    }),
    output: anyObject,
    annotations: READ,
    role: "viewer",
    run: async (a, ctx) => explainPattern(ctx, a.service, a.pattern_id),
  }),
  tool({
    name: "group_lines",
    title: "Group log lines into templates",
    description:
      "Template mining of pasted log lines, as the analyzer groups them into incidents: each template (variables as <*>) with its count and an example, most frequent first. With service, the line header (time, level…) is stripped first. Reports progress on long input.",
    input: v.strictObject({
      lines: v.pipe(
        v.array(v.pipe(v.string(), v.maxLength(65536))),
        v.minLength(1),
        v.maxLength(100_000),
        v.description("the log lines, one per item"),
      ),
      service: v.optional(
        v.pipe(v.string(), v.maxLength(100), v.description("strip this service's line header")),
      ),
    }),
    output: obj({ templates: { type: "array" }, lines: { type: "integer" } }, ["templates", "lines"]),
    annotations: READ,
    role: "viewer",
    run: async (a, ctx) => groupLines(ctx, a.lines, a.service),
  }),
];
