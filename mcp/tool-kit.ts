/**
 * How an MCP tool is declared and called: a valibot input schema (checked here, and published as
 * the tool's JSON Schema), a JSON Schema of its structured output, annotations, the role it needs,
 * and `run`. Every failure becomes a tool result with `isError` (bad input names the argument, a
 * refusal says why and what status the API would have answered), never a protocol error or a crash:
 * the model reading it can correct itself.
 */

import type { CallToolResult, Tool, ToolAnnotations } from "@modelcontextprotocol/sdk/types.js";
import { toJsonSchema } from "@valibot/to-json-schema";
import * as v from "valibot";
import type { Role } from "../api/auth.ts";
import { HttpError } from "../api/http-error.ts";
import { describeIssue } from "../core/config/yaml.ts";
import { errorMessage } from "../core/errors.ts";
import type { ServicePatterns } from "../core/patterns/load.ts";
import type { ApprovalSettings } from "../core/policy/approval.ts";
import type { Backend } from "./backend.ts";

export interface ToolContext {
  backend: Backend;
  /** The patterns files (policies, patterns, remediations) the server judges by. */
  patterns: Map<string, ServicePatterns>;
  /** The server's approval bounds, when known: check_policy says whether a fix would wait. */
  approval?: ApprovalSettings;
  /** Report progress of a long tool (no-op when the client sent no progress token). */
  progress(done: number, total: number, message?: string): Promise<void>;
  signal: AbortSignal;
}

export interface ToolDef {
  name: string;
  title: string;
  description: string;
  // biome-ignore lint/suspicious/noExplicitAny: each tool narrows its own input
  input: v.ObjectSchema<any, any> | v.StrictObjectSchema<any, any>;
  output: Record<string, unknown>;
  annotations: ToolAnnotations;
  /** The role the token needs (api/auth.ts GRANTS decides who has it). */
  role: Role;
  /** A write tool: offered only with mcp.allow_writes, and audited in mcp:events. */
  write?: boolean;
  run(args: never, ctx: ToolContext): Promise<Record<string, unknown>>;
}

/** Declare a tool with its input type inferred from the schema. */
export function tool<S extends ToolDef["input"]>(
  def: Omit<ToolDef, "input" | "run"> & {
    input: S;
    run(args: v.InferOutput<S>, ctx: ToolContext): Promise<Record<string, unknown>>;
  },
): ToolDef {
  return def as unknown as ToolDef;
}

/** The tool as `tools/list` shows it. */
export function listing(def: ToolDef): Tool {
  const input = toJsonSchema(def.input, { errorMode: "ignore" }) as Record<string, unknown>;
  delete input.$schema;
  return {
    name: def.name,
    title: def.title,
    description: def.description,
    inputSchema: { ...input, type: "object" } as Tool["inputSchema"],
    outputSchema: { type: "object", ...def.output } as Tool["outputSchema"],
    annotations: { title: def.title, ...def.annotations },
  };
}

/** Validate, run, and shape the answer; never throws. */
export async function callTool(def: ToolDef, raw: unknown, ctx: ToolContext): Promise<CallToolResult> {
  const parsed = v.safeParse(def.input, raw ?? {}, { abortEarly: false });
  if (!parsed.success) {
    const problems = (parsed.issues as v.BaseIssue<unknown>[]).map((i) => {
      const path = (i.path ?? []).map((p) => String(p.key)).join(".");
      const missing = describeIssue(i).startsWith("missing");
      const name = missing ? String(i.path?.at(-1)?.key ?? path) : path;
      return name
        ? `argument "${name}": ${describeIssue(i).replace(/^missing required key "[^"]*"/, "missing (required)")}`
        : describeIssue(i);
    });
    return failure(`invalid arguments for ${def.name}: ${problems.join("; ")}`);
  }
  try {
    ctx.backend.requireRole(def.role);
    const out = await def.run(parsed.output as never, ctx);
    return { content: [{ type: "text", text: JSON.stringify(out, null, 2) }], structuredContent: out };
  } catch (err) {
    return failure(refusal(err));
  }
}

export function failure(text: string): CallToolResult {
  return { isError: true, content: [{ type: "text", text }] };
}

/** "not found (404): no fix with id "x"" — the API's words and the status it would answer. */
export function refusal(err: unknown): string {
  if (err instanceof HttpError) return `${err.code.replace(/_/g, " ")} (${err.status}): ${err.message}`;
  return errorMessage(err);
}

/** A JSON Schema object with these properties (others allowed: records grow new fields). */
export function obj(properties: Record<string, unknown>, required: string[] = []): Record<string, unknown> {
  return { type: "object", properties, ...(required.length ? { required } : {}) };
}

export const anyObject = { type: "object" };
export const pageOf = (item: Record<string, unknown>) =>
  obj(
    {
      total: { type: "integer", description: "matching items in all pages" },
      limit: { type: "integer" },
      offset: { type: "integer" },
      items: { type: "array", items: item },
    },
    ["total", "items"],
  );
