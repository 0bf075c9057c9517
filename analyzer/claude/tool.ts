/**
 * The one tool Claude may call, `propose_fixes`, and the valibot check of its input. The JSON
 * schema is what the model sees; the valibot schema is what we trust (the SDK does not check the
 * answer's shape at run time). Both describe the same typed actions as core/schemas/actions.ts:
 * there is no free-form shell anywhere, and the policy check still decides afterwards.
 */
import type Anthropic from "@anthropic-ai/sdk";
import * as v from "valibot";
import { Action, Check, Risk } from "../../core/schemas/actions.ts";
import { summarizeIssues } from "../../core/schemas/codec.ts";
import type { Analysis } from "../types.ts";

export const TOOL_NAME = "propose_fixes";

const str = { type: "string" } as const;
const runAction = {
  type: "object",
  additionalProperties: false,
  required: ["type", "program", "args"],
  properties: {
    type: { type: "string", enum: ["run"] },
    program: { type: "string", description: "program name, no shell; must be allowed by the policy" },
    args: { type: "array", items: str, description: "each argument separately; no shell operators" },
  },
} as const;
const writeAction = {
  type: "object",
  additionalProperties: false,
  required: ["type", "path", "content"],
  properties: {
    type: { type: "string", enum: ["write_file"] },
    path: str,
    content: str,
    mode: { type: "string", description: "octal like 0644" },
  },
} as const;
const serviceAction = {
  type: "object",
  additionalProperties: false,
  required: ["type", "op"],
  properties: {
    type: { type: "string", enum: ["service"] },
    op: { type: "string", enum: ["validate", "reload", "restart"] },
  },
} as const;
const check = {
  anyOf: [
    { ...runAction, properties: { ...runAction.properties, expect_exit: { type: "integer" } } },
    { ...serviceAction, properties: { ...serviceAction.properties, expect_exit: { type: "integer" } } },
    {
      type: "object",
      additionalProperties: false,
      required: ["type", "url"],
      properties: { type: { type: "string", enum: ["http"] }, url: str, expect_status: { type: "integer" } },
    },
  ],
} as const;
const action = { anyOf: [runAction, writeAction, serviceAction] } as const;

/** The tool definition sent with every request (cached together with the system prompt). */
export const PROPOSE_FIXES_TOOL: Anthropic.Messages.Tool = {
  name: TOOL_NAME,
  description:
    "Record a diagnosis and a fix proposal for EVERY incident in the request, one entry per incident_id. " +
    "Actions must be allowed by the service policy given in the context; propose no actions (empty list) " +
    "when no safe fix exists.",
  strict: true,
  input_schema: {
    type: "object",
    additionalProperties: false,
    required: ["proposals"],
    properties: {
      proposals: {
        type: "array",
        items: {
          type: "object",
          additionalProperties: false,
          required: [
            "incident_id",
            "diagnosis",
            "root_cause",
            "confidence",
            "risk",
            "actions",
            "verify",
            "rollback",
          ],
          properties: {
            incident_id: str,
            diagnosis: str,
            root_cause: str,
            confidence: { type: "number", description: "0 to 1" },
            risk: { type: "string", enum: ["low", "medium", "high"] },
            actions: { type: "array", items: action },
            preconditions: { type: "array", items: check },
            verify: { type: "array", items: check },
            rollback: { type: "array", items: action },
          },
        },
      },
    },
  },
};

const ProposalInput = v.strictObject({
  incident_id: v.pipe(v.string(), v.minLength(1)),
  diagnosis: v.pipe(v.string(), v.minLength(1), v.maxLength(4000)),
  root_cause: v.pipe(v.string(), v.maxLength(4000)),
  confidence: v.pipe(v.number(), v.minValue(0), v.maxValue(1)),
  risk: Risk,
  actions: v.pipe(v.array(Action), v.maxLength(20)),
  preconditions: v.optional(v.pipe(v.array(Check), v.maxLength(20)), []),
  verify: v.pipe(v.array(Check), v.maxLength(20)),
  rollback: v.pipe(v.array(Action), v.maxLength(20)),
});
const ToolInput = v.strictObject({ proposals: v.array(v.unknown()) });

export interface ParsedAnswer {
  /** Valid analyses by incident id. */
  valid: Map<string, Analysis>;
  /** Problems by incident id (invalid entry, or missing from the answer). */
  invalid: Map<string, string>;
  /** Problems not tied to one incident (no tool call, wrong top-level shape, unknown ids). */
  general: string[];
}

/** Check a tool input against the incidents that were asked about. */
export function parseToolInput(input: unknown, expected: readonly string[]): ParsedAnswer {
  const out: ParsedAnswer = { valid: new Map(), invalid: new Map(), general: [] };
  const top = v.safeParse(ToolInput, input);
  if (!top.success) {
    out.general.push(`input: ${summarizeIssues(top.issues)}`);
    for (const id of expected) out.invalid.set(id, "no valid proposal");
    return out;
  }
  const wanted = new Set(expected);
  top.output.proposals.forEach((raw, i) => {
    const p = v.safeParse(ProposalInput, raw);
    const id = (raw as { incident_id?: unknown } | null)?.incident_id;
    if (!p.success) {
      const msg = `proposals.${i}: ${summarizeIssues(p.issues)}`;
      if (typeof id === "string" && wanted.has(id)) out.invalid.set(id, msg);
      else out.general.push(msg);
      return;
    }
    const { incident_id, ...analysis } = p.output;
    if (!wanted.has(incident_id)) {
      out.general.push(`proposals.${i}: unknown incident_id ${JSON.stringify(incident_id)}`);
      return;
    }
    out.valid.set(incident_id, analysis);
    out.invalid.delete(incident_id);
  });
  for (const id of expected) {
    if (!out.valid.has(id) && !out.invalid.has(id)) out.invalid.set(id, `no proposal for incident_id ${id}`);
  }
  return out;
}

/** The text shown to the model (tool_result with is_error) when its answer did not validate. */
export function describeProblems(parsed: ParsedAnswer): string {
  const lines = [...parsed.general, ...[...parsed.invalid].map(([id, msg]) => `${id}: ${msg}`)];
  return `The propose_fixes input was invalid. Call propose_fixes again with one valid entry per incident_id.\n${lines.slice(0, 30).join("\n")}`;
}
