import * as v from "valibot";
import { describeIssue } from "../config/yaml.ts";
import { errorMessage } from "../errors.ts";
import { loadPatternsDir, type ServicePatterns } from "../patterns/load.ts";
import { Action, Check } from "../schemas/actions.ts";
import { checkAction, describeAction, type PolicyVerdict } from "./index.ts";

export interface PolicyCheckInput {
  service: string;
  /** One action as JSON, or a JSON array of actions (`--action`). */
  actionJson?: string;
  /** Read when `actionJson` is absent: one action or an array. */
  stdin?: string;
  /** A folder of `<service>.yml`; the shipped services it lacks are added, as the server does. */
  patternsDir?: string;
  /** Already loaded patterns (the central config's, `--config`); wins over `patternsDir`. */
  patterns?: Map<string, ServicePatterns>;
}

export interface Out {
  write(text: string): unknown;
}

/**
 * `mcpmon policy check --service nginx --action '<json>'`: print, per action, allowed or refused,
 * the rule or the reason, and the risk. Exit code 0 when all are allowed, 1 when any is refused,
 * 2 on a usage error (unknown service, no input, bad JSON, JSON that is not an action: a typo in
 * the question must not read as the policy's answer). Checks (`http`, or anything with
 * `expect_exit`) are judged as verify steps; `{"kind": "rollback", "action": …}` picks the kind.
 * Errors go to `err` (default `out`), each line starting with `mcpmon: `.
 */
export function runPolicyCheckCommand(input: PolicyCheckInput, out: Out, err: Out = out): number {
  const fail = (message: string) => {
    err.write(`${message.replace(/^/gm, "mcpmon: ")}\n`);
    return 2;
  };
  let patterns: Map<string, ServicePatterns>;
  try {
    patterns = input.patterns ?? loadPatternsDir(input.patternsDir, { withShipped: true });
  } catch (e) {
    return fail(errorMessage(e));
  }
  const service = patterns.get(input.service);
  if (!service) return fail(`unknown service "${input.service}" (known: ${[...patterns.keys()].join(", ")})`);
  const text = input.actionJson ?? input.stdin;
  if (text === undefined || text.trim() === "") return fail("give --action JSON or a JSON array on stdin");
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return fail(`not valid JSON: ${errorMessage(e)}`);
  }
  const items = (Array.isArray(parsed) ? parsed : [parsed]).map(unwrap);
  if (items.length === 0) return fail("no actions given");
  const malformed = items.flatMap((item, i) => shapeProblems(item, i));
  if (malformed.length > 0) return fail(malformed.join("\n"));
  let refused = 0;
  items.forEach(({ kind, action }, i) => {
    const verdict = checkAction(service.spec.policy, action, kind, i);
    if (!verdict.allowed) refused++;
    out.write(formatVerdict(verdict));
  });
  out.write(`${items.length - refused} allowed, ${refused} refused (policy of ${service.file})\n`);
  return refused > 0 ? 1 : 0;
}

const KINDS = new Set(["action", "precondition", "verify", "rollback"]);

function unwrap(item: unknown): { kind: PolicyVerdict["kind"]; action: unknown } {
  if (item && typeof item === "object") {
    const o = item as Record<string, unknown>;
    if (typeof o.kind === "string" && KINDS.has(o.kind) && "action" in o)
      return { kind: o.kind as PolicyVerdict["kind"], action: o.action };
    if (o.type === "http" || "expect_exit" in o) return { kind: "verify", action: item };
  }
  return { kind: "action", action: item };
}

/** `action 0: missing required key "program"`, `action 1 args.0: expected string, got 3`. */
function shapeProblems(item: { kind: PolicyVerdict["kind"]; action: unknown }, index: number): string[] {
  const isCheck = item.kind === "precondition" || item.kind === "verify";
  const a = item.action as { type?: unknown } | null;
  // A check is a union; judged against the branch its `type` names, its issues read as an action's.
  const schema: v.GenericSchema = isCheck
    ? (Check.options.find((o) => o.entries.type.literal === a?.type) ?? checkTypes)
    : Action;
  const result = v.safeParse(schema, item.action, { abortEarly: false });
  if (result.success) return [];
  return result.issues.map((issue) => {
    const path = (issue.path ?? []).map((p) => String(p.key)).join(".");
    const label = `${item.kind === "action" ? "action" : item.kind} ${index}`;
    const missing = describeIssue(issue).startsWith("missing");
    return `${label}${path && !missing ? ` ${path}` : ""}: ${describeIssue(issue)}`;
  });
}

const checkTypes = v.object({ type: v.picklist(["run", "service", "http"]) });

/** `allowed  run chmod 644 /var/www/x  rule chmod-web-content  risk low` */
export function formatVerdict(v: PolicyVerdict): string {
  const head = `${v.allowed ? "allowed" : "refused"}  [${v.index}] ${v.kind === "action" ? "" : `${v.kind} `}`;
  if (v.allowed)
    return `${head}${describeAction(v.action)}  rule ${v.rule}  risk ${v.risk}${v.note ? `\n         ${v.note}` : ""}\n`;
  return `${head}${v.reason}\n`;
}
