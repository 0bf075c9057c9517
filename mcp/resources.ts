/**
 * Resources: `mcpmon://incidents/{id}`, `mcpmon://fixes/{id}` (JSON, as get_incident / get_fix
 * return them) and `mcpmon://patterns/{service}` (the patterns file in words: what mcpmon may do on
 * such a host, then the YAML). Listed: every service's patterns, the newest incidents and the fixes
 * awaiting approval. An update of a subscribed incident or fix arrives from `mcp:events`.
 */
import { readFileSync } from "node:fs";
import type { Resource, ResourceTemplate } from "@modelcontextprotocol/sdk/types.js";
import { HttpError } from "../api/http-error.ts";
import { EMBEDDED_PATTERNS } from "../core/patterns/embedded.ts";
import type { ServicePatterns } from "../core/patterns/load.ts";
import type { McpEvent } from "../core/schemas/event.ts";
import type { Backend } from "./backend.ts";
import { serviceOf } from "./knowledge.ts";

export const SCHEME = "mcpmon://";
const LISTED = 50;

export const TEMPLATES: ResourceTemplate[] = [
  {
    uriTemplate: `${SCHEME}incidents/{id}`,
    name: "incident",
    title: "An incident",
    description: "An incident with its redacted samples, fields, history and fixes (JSON)",
    mimeType: "application/json",
  },
  {
    uriTemplate: `${SCHEME}fixes/{id}`,
    name: "fix",
    title: "A fix",
    description: "A fix with its actions, risk, approval and every step with its output (JSON)",
    mimeType: "application/json",
  },
  {
    uriTemplate: `${SCHEME}patterns/{service}`,
    name: "patterns",
    title: "A service's patterns and policy",
    description: "The service's command policy in words and its patterns file (Markdown with the YAML)",
    mimeType: "text/markdown",
  },
];

export async function listResources(backend: Backend, patterns: Map<string, ServicePatterns>) {
  const [incidents, fixes] = await Promise.all([
    backend.listIncidents({ limit: String(LISTED) }),
    backend.listFixes({ status: "awaiting_approval", limit: String(LISTED) }),
  ]);
  const resources: Resource[] = [
    ...[...patterns.keys()].sort().map((s) => ({
      uri: `${SCHEME}patterns/${s}`,
      name: `patterns/${s}`,
      title: `${s}: patterns and policy`,
      mimeType: "text/markdown",
    })),
    ...incidents.items.map((i) => ({
      uri: `${SCHEME}incidents/${i.incident_id}`,
      name: `incidents/${i.incident_id}`,
      title: `${i.service} ${i.status}: ${i.template.slice(0, 80)}`,
      mimeType: "application/json",
    })),
    ...fixes.items.map((f) => ({
      uri: `${SCHEME}fixes/${f.fix_id}`,
      name: `fixes/${f.fix_id}`,
      title: `fix awaiting approval (risk ${f.risk}) for ${f.service}`,
      mimeType: "application/json",
    })),
  ];
  return { resources };
}

/** The contents of one URI; an unknown URI or id is a 404 naming it. */
export async function readResource(backend: Backend, patterns: Map<string, ServicePatterns>, uri: string) {
  const m = /^mcpmon:\/\/(incidents|fixes|patterns)\/([^/?#]+)$/.exec(uri);
  if (!m) throw new HttpError(404, "not_found", `no resource ${uri} (try mcpmon://incidents/{id})`);
  const [, kind, raw] = m;
  const id = decodeURIComponent(raw!);
  if (kind === "patterns") {
    return { contents: [{ uri, mimeType: "text/markdown", text: patternsText(serviceOf(patterns, id)) }] };
  }
  const value = kind === "incidents" ? await backend.incident(id) : await backend.fix(id);
  return { contents: [{ uri, mimeType: "application/json", text: JSON.stringify(value, null, 2) }] };
}

/** The URI an event of `mcp:events` changes, if any: incident.* and error.new → the incident, fix.* → the fix. */
export function uriOfEvent(e: McpEvent): string | null {
  if (e.type.startsWith("fix.")) return `${SCHEME}fixes/${encodeURIComponent(e.subject)}`;
  if (e.type.startsWith("incident.")) return `${SCHEME}incidents/${encodeURIComponent(e.subject)}`;
  const incident = e.data?.incident_id;
  if (typeof incident === "string") return `${SCHEME}incidents/${encodeURIComponent(incident)}`;
  return null;
}

function patternsText(sp: ServicePatterns): string {
  const { spec } = sp;
  const rules = spec.policy.rules.map((r) => {
    const what = "program" in r && r.program ? `\`${r.program}\`` : r.type;
    return `- **${r.id}** (${r.type} ${what}, risk ${r.risk})`;
  });
  const pats = sp.patterns.map(({ pattern: p }) => {
    const fix = p.remediation ? ` — fix: ${p.remediation.description} (risk ${p.remediation.risk})` : "";
    return `- **${p.id}** [${p.severity}, ${p.category}]: ${p.description.trim()}${fix}`;
  });
  const yaml = sp.file.startsWith("embedded:")
    ? (EMBEDDED_PATTERNS[`${sp.service}.yml`] ?? "")
    : readText(sp.file);
  return [
    `# ${sp.service} (${sp.file})`,
    "",
    "## What mcpmon may do on such a host",
    "",
    spec.policy.description.trim(),
    "",
    "Allowed actions (anything else is refused):",
    ...rules,
    "",
    `## Error patterns (${sp.patterns.length}, first match wins)`,
    "",
    ...pats,
    ...(yaml ? ["", "## The patterns file", "", "```yaml", yaml.trimEnd(), "```"] : []),
  ].join("\n");
}

function readText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}
