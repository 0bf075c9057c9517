import { errorMessage } from "../errors.ts";
import { loadPatternsDir } from "../patterns/load.ts";
import { checkAction, describeAction, type PolicyVerdict } from "./index.ts";

export interface PolicyCheckInput {
  service: string;
  /** One action as JSON, or a JSON array of actions (`--action`). */
  actionJson?: string;
  /** Read when `actionJson` is absent: one action or an array. */
  stdin?: string;
  /** Default: the patterns folder `loadPatternsDir` finds (or the embedded copies). */
  patternsDir?: string;
}

export interface Out {
  write(text: string): unknown;
}

/**
 * `mcpmon policy check --service nginx --action '<json>'`: print, per action, allowed or refused,
 * the rule or the reason, and the risk. Exit code 0 when all are allowed, 1 when any is refused,
 * 2 on a usage error (unknown service, no input, bad JSON). Checks (`http`, or anything with
 * `expect_exit`) are judged as verify steps; `{"kind": "rollback", "action": …}` picks the kind.
 */
export function runPolicyCheckCommand(input: PolicyCheckInput, out: Out): number {
  const fail = (message: string) => {
    out.write(`error: ${message}\n`);
    return 2;
  };
  let patterns: ReturnType<typeof loadPatternsDir>;
  try {
    patterns = loadPatternsDir(input.patternsDir);
  } catch (err) {
    return fail(errorMessage(err));
  }
  const service = patterns.get(input.service);
  if (!service) return fail(`unknown service "${input.service}" (known: ${[...patterns.keys()].join(", ")})`);
  const text = input.actionJson ?? input.stdin;
  if (text === undefined || text.trim() === "") return fail("give --action JSON or a JSON array on stdin");
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return fail(`not valid JSON: ${errorMessage(err)}`);
  }
  const items = Array.isArray(parsed) ? parsed : [parsed];
  if (items.length === 0) return fail("no actions given");
  let refused = 0;
  items.forEach((item, i) => {
    const { kind, action } = unwrap(item);
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

/** `allowed  run chmod 644 /var/www/x  rule chmod-web-content  risk low` */
export function formatVerdict(v: PolicyVerdict): string {
  const head = `${v.allowed ? "allowed" : "refused"}  [${v.index}] ${v.kind === "action" ? "" : `${v.kind} `}`;
  if (v.allowed) return `${head}${describeAction(v.action)}  rule ${v.rule}  risk ${v.risk}\n`;
  return `${head}${v.reason}\n`;
}
