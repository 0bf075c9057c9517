/**
 * The operator CLI: `mcpmon incidents | incident | fixes | approve | reject | ignore | status |
 * queues`, each one request to a running server's REST API (api/client.ts), so the server decides
 * everything an operator may do, exactly as for curl and the MCP tools. Tables by default, the
 * API's JSON with --json. Exit 0 done; 1 the API unreachable or refusing (the status and the API's
 * reason are printed); 2 a usage mistake.
 */
import { ApiClient } from "../../api/client.ts";
import { HttpError } from "../../api/http-error.ts";
import { McpError } from "../../core/errors.ts";
import { describeAction } from "../../core/policy/index.ts";
import type { CliArgs } from "../args.ts";
import { apiRefusal, apiTarget } from "../credentials.ts";
import { fields, table } from "../table.ts";

type Out = (s: string) => void;
type Row = Record<string, unknown>;
interface Page {
  total: number;
  items: Row[];
}

export async function operatorCommand(args: CliArgs, out: Out, err: Out): Promise<number> {
  const target = apiTarget(args.flags.api as string | undefined, process.env);
  const api = new ApiClient(target);
  const json = Boolean(args.flags.json);
  const print = (value: unknown, render: () => string) =>
    out(json ? JSON.stringify(value, null, 2) : render());
  const id = () => {
    const v = args.positionals[0];
    if (!v) throw new McpError("USAGE", `${args.command} needs an ID (see mcpmon ${args.command} --help)`);
    return encodeURIComponent(v);
  };
  const filters = {
    status: args.flags.status as string | undefined,
    service: args.flags.service as string | undefined,
  };
  try {
    switch (args.command) {
      case "incidents": {
        const p = await api.get<Page>("/errors", { ...filters, limit: 1000 });
        print(p, () => incidentsTable(p));
        return 0;
      }
      case "incident": {
        const d = await api.get<Row>(`/errors/${id()}`);
        print(d, () => incidentText(d));
        return 0;
      }
      case "fixes": {
        const p = await api.get<Page>("/fixes", { ...filters, limit: 1000 });
        print(p, () => fixesTable(p));
        return 0;
      }
      case "approve": {
        const note = args.flags.note as string | undefined;
        const f = await api.post<Row>(`/fixes/${id()}/approve`, note ? { note } : {});
        const by = (f.approval as Row | undefined)?.by;
        print(f, () => `fix ${f.fix_id}: ${f.status} (approved by ${by})`);
        return 0;
      }
      case "reject": {
        const reason = args.flags.reason as string | undefined;
        if (!reason) throw new McpError("USAGE", "reject needs --reason TEXT");
        const f = await api.post<Row>(`/fixes/${id()}/reject`, { reason });
        print(f, () => `fix ${f.fix_id}: ${f.status} (${reason})`);
        return 0;
      }
      case "ignore": {
        const reason = args.flags.reason as string | undefined;
        const i = await api.post<Row>(`/errors/${id()}/ignore`, reason ? { reason } : {});
        print(i, () => `incident ${i.incident_id}: ${i.status}`);
        return 0;
      }
      case "status": {
        const s = await api.get<Row>("/status");
        print(s, () => statusText(s));
        return 0;
      }
      case "queues": {
        const q = await api.get<{ streams: Row[]; paused: boolean }>("/queues/status");
        print(q, () => queuesTable(q));
        return 0;
      }
    }
    throw new McpError("USAGE", `unknown operator command "${args.command}"`);
  } catch (e) {
    if (!(e instanceof HttpError)) throw e;
    err(apiRefusal(e, target));
    return 1;
  }
}

const s = (v: unknown) => (v === undefined || v === null ? "" : String(v));
const when = (v: unknown) => s(v).replace(/\.\d+Z$/, "Z");

function incidentsTable(p: Page): string {
  if (p.items.length === 0) return "no incidents";
  const rows = p.items.map((i) => [
    s(i.incident_id),
    s(i.status),
    s(i.service),
    s(i.count),
    when(i.last_seen),
    ((i.hosts as string[]) ?? []).join(","),
    s(i.template),
  ]);
  return `${table(["ID", "STATUS", "SERVICE", "COUNT", "LAST SEEN", "HOSTS", "TEMPLATE"], rows)}\n${p.total} incident(s)`;
}

function actionsOf(f: Row): string {
  return ((f.actions as unknown[]) ?? []).map((a) => describeAction(a)).join("; ");
}

function fixesTable(p: Page): string {
  if (p.items.length === 0) return "no fixes";
  const rows = p.items.map((f) => [
    s(f.fix_id),
    s(f.status),
    s(f.risk),
    s(f.source),
    s(f.service),
    s(f.incident_id),
    actionsOf(f),
  ]);
  return `${table(["ID", "STATUS", "RISK", "SOURCE", "SERVICE", "INCIDENT", "ACTIONS"], rows)}\n${p.total} fix(es)`;
}

function incidentText(d: Row): string {
  const inc = d.incident as Row | undefined;
  if (!inc)
    return fields([
      ["event", s(d.event_id)],
      ["status", s(d.status)],
    ]);
  const lines = [
    fields([
      ["incident", s(inc.incident_id)],
      ["status", `${s(inc.status)}${inc.status_reason ? ` — ${s(inc.status_reason)}` : ""}`],
      ["service", s(inc.service)],
      ["pattern", s(inc.pattern_id)],
      ["severity", s(inc.severity)],
      ["hosts", ((inc.hosts as string[]) ?? []).join(", ")],
      ["count", s(inc.count)],
      ["first seen", when(inc.first_seen)],
      ["last seen", when(inc.last_seen)],
      ["template", s(inc.template)],
      ["fields", inc.fields && Object.keys(inc.fields).length ? JSON.stringify(inc.fields) : ""],
      ["diagnosis", s(inc.diagnosis)],
    ]),
    "",
    "samples:",
    ...((inc.samples as string[]) ?? []).map((x) => `  ${x.replace(/\n/g, "\n  ")}`),
  ];
  const fixes = (d.fixes as Row[]) ?? [];
  if (fixes.length) lines.push("", fixesTable({ total: fixes.length, items: fixes }));
  const history = (d.history as Row[]) ?? [];
  if (history.length)
    lines.push(
      "",
      table(
        ["AT", "FROM", "TO", "REASON"],
        history.map((h) => [when(h.at), s(h.from), s(h.to), s(h.reason)]),
      ),
    );
  return lines.join("\n");
}

function statusText(st: Row): string {
  const comps = (st.components as Record<string, Row>) ?? {};
  const byStatus = (st.incidents_by_status as Record<string, number>) ?? {};
  const broker = (st.broker as Row) ?? {};
  return [
    fields([
      ["status", s(st.status)],
      ["version", s(st.version)],
      ["uptime", `${s(st.uptime_s)} s`],
      ["broker", `${s(broker.kind)} ${s(broker.state)}`.trim()],
      ["paused", s(st.paused)],
      ["claude", (st.claude as Row)?.enabled ? `enabled (${s((st.claude as Row).model)})` : "disabled"],
      [
        "incidents",
        Object.entries(byStatus)
          .map(([k, n]) => `${k} ${n}`)
          .join(", ") || "none",
      ],
    ]),
    "",
    table(
      ["COMPONENT", "RUNNING", "WORKERS"],
      Object.entries(comps).map(([name, c]) => [name, c.running ? "yes" : "no", s(c.workers ?? "")]),
    ),
  ].join("\n");
}

function queuesTable(q: { streams: Row[]; paused: boolean }): string {
  const rows = q.streams.flatMap((st) => {
    const groups = (st.groups as Row[]) ?? [];
    if (groups.length === 0) return [[s(st.name), s(st.length), "", "", "", "", ""]];
    return groups.map((g) => [
      s(st.name),
      s(st.length),
      s(g.name),
      s(g.pending),
      s(g.lag ?? "?"),
      s(((g.consumers as unknown[]) ?? []).length),
      `${Math.round(Number(g.oldest_pending_ms ?? 0) / 1000)} s`,
    ]);
  });
  return `${table(["STREAM", "LENGTH", "GROUP", "PENDING", "LAG", "CONSUMERS", "OLDEST PENDING"], rows)}\nprocessing ${q.paused ? "PAUSED" : "running"}`;
}
