import * as v from "valibot";
import type { Policy, PolicyRule } from "../patterns/schema.ts";
import { Action, Check, maxRisk, RISK_ORDER, type Risk } from "../schemas/actions.ts";
import { contentFindings } from "./content.ts";
import { protectedNameReason } from "./protected.ts";
import {
  argReason,
  escapeControls,
  normaliseMode,
  pathReason,
  programReason,
  urlPathReason,
  urlReason,
} from "./shapes.ts";

export { contentReasons } from "./content.ts";
export { PROTECTED_WORDS, protectedNameReason } from "./protected.ts";
export { controlCharReason, normaliseMode, pathReason } from "./shapes.ts";

/**
 * The command policy checker: a pure function from (service policy, proposed action) to allowed or
 * refused, with the rule that matched or the reason. The analyzer calls it to decide whether a fix
 * can run unattended; the executor calls it again, on the stored record, right before running.
 * Input is `unknown` on purpose: proposals come from a model that may be wrong or steered by an
 * attacker's log line, so the shape is validated here too.
 */
export interface PolicyVerdict {
  index: number;
  kind: "action" | "precondition" | "verify" | "rollback";
  action: unknown;
  allowed: boolean;
  /** Id of the rule that allowed the action. */
  rule?: string;
  /** Every rule that allows it, when more than one does (chmod/chown: the host picks by kind). */
  rules?: string[];
  risk?: Risk;
  /** Why it was refused, naming the action. */
  reason?: string;
  /** Why an allowed action's risk is above its rule's (a config directive checked on the host). */
  note?: string;
}

export interface PolicyDecision {
  allowed: boolean;
  /** The highest of the matched rules' risks and the proposal's claim. */
  risk: Risk;
  verdicts: PolicyVerdict[];
  refused: PolicyVerdict[];
}

export interface FixProposal {
  actions: unknown[];
  preconditions?: unknown[];
  verify?: unknown[];
  rollback?: unknown[];
  claimed_risk?: Risk;
}

/** Check one action (or check, for kind precondition/verify) against a service policy. */
export function checkAction(
  policy: Policy,
  action: unknown,
  kind: PolicyVerdict["kind"] = "action",
  index = 0,
): PolicyVerdict {
  const refuse = (reason: string): PolicyVerdict => ({
    index,
    kind,
    action,
    allowed: false,
    reason: escapeControls(`${describeAction(action)}: ${reason}`),
  });
  const isCheck = kind === "precondition" || kind === "verify";
  const parsed = v.safeParse(isCheck ? Check : Action, action);
  if (!parsed.success) {
    const issue = parsed.issues[0];
    const where = issue.path?.map((p) => p.key).join(".");
    return refuse(
      `not a valid ${isCheck ? "check" : "action"} (${where ? `${where}: ` : ""}${issue.message})`,
    );
  }
  const a = parsed.output;
  const candidates = policy.rules.filter((r) => r.type === a.type);
  if (a.type === "run") {
    const same = candidates.filter((r) => r.type === "run" && r.program === a.program);
    if (same.length === 0) {
      const bad = programReason(a.program, a.program);
      return refuse(bad ?? `program "${a.program}" is not in the policy`);
    }
  }
  if (candidates.length === 0) return refuse(`no rule allows ${a.type} actions`);
  const reasons: string[] = [];
  for (const rule of candidates) {
    const reason = ruleReason(rule, a, policy);
    if (reason === null) {
      const verdict: PolicyVerdict = { index, kind, action, allowed: true, rule: rule.id, risk: rule.risk };
      if (rule.type === "run" && rule.target) {
        // A file rule and a folder rule may both allow `chown www-data <path>`: the host picks by
        // what the path is, so the verdict carries the highest risk of every rule that allows it.
        const others = candidates.filter(
          (r) => r !== rule && r.type === "run" && r.target && ruleReason(r, a, policy) === null,
        );
        if (others.length) {
          verdict.rules = [rule.id, ...others.map((r) => r.id)];
          verdict.risk = maxRisk(rule.risk, ...others.map((r) => r.risk));
        }
      }
      if (a.type === "write_file") {
        const onHost = contentFindings(policy.content, a.path, a.content).onHost;
        if (onHost.length) {
          verdict.risk = "high";
          verdict.note = `high risk: ${onHost.join("; ")}`;
        }
      }
      return verdict;
    }
    if (reason !== SKIP) reasons.push(`${rule.id}: ${reason}`);
  }
  return refuse(reasons.length ? reasons.join("; ") : "no rule matches");
}

const SKIP = "\u0000skip";

/** Why `rule` does not allow `a` (null when it does; SKIP when the rule is about something else). */
function ruleReason(rule: PolicyRule, a: Action | Check, policy: Policy): string | null {
  switch (rule.type) {
    case "run": {
      if (a.type !== "run" || a.program !== rule.program) return SKIP;
      const bad = programReason(a.program, rule.program);
      if (bad) return bad;
      const args = a.args ?? [];
      if (rule.max_args !== undefined && args.length > rule.max_args)
        return `${args.length} arguments, at most ${rule.max_args} allowed`;
      if (args.length < rule.args.length) return `${args.length} arguments, expected ${rule.args.length}`;
      if (!rule.rest && args.length > rule.args.length)
        return `${args.length} arguments, expected ${rule.args.length}`;
      for (let i = 0; i < args.length; i++) {
        const shape = i < rule.args.length ? rule.args[i]! : rule.rest!;
        const reason = argReason(args[i]!, shape);
        if (reason) return `argument ${i + 1}: ${reason}`;
      }
      if (rule.target?.protected === "refuse") {
        const pathShape = rule.args[1];
        if (pathShape && "path" in pathShape && args[1] !== undefined) {
          const looks = protectedNameReason(args[1], pathShape.path.roots);
          if (looks) return looks;
        }
      }
      return null;
    }
    case "write_file": {
      if (a.type !== "write_file") return SKIP;
      const bad = pathReason(a.path, rule.path.roots, false);
      if (bad) return bad;
      const bytes = Buffer.byteLength(a.content, "utf8");
      if (bytes > rule.max_bytes) return `content is ${bytes} bytes, at most ${rule.max_bytes} allowed`;
      if (a.mode !== undefined && Number.parseInt(a.mode, 8) & 0o7000)
        return `mode ${a.mode} sets a setuid, setgid or sticky bit, which a fix never does`;
      if (
        a.mode !== undefined &&
        rule.modes &&
        !rule.modes.map(normaliseMode).includes(normaliseMode(a.mode))
      )
        return `mode ${a.mode} is not one of ${rule.modes.join(", ")}`;
      const content = contentFindings(policy.content, a.path, a.content).refused;
      return content.length ? content.join("; ") : null;
    }
    case "service":
      if (a.type !== "service") return SKIP;
      return rule.ops.includes(a.op) ? null : `operation "${a.op}" is not one of ${rule.ops.join(", ")}`;
    case "http":
      if (a.type !== "http") return SKIP;
      return urlReason(a.url, rule.url_prefixes) ?? urlPathReason(a.url, rule.paths);
  }
}

/**
 * Check every action, precondition, verify step and rollback action of a fix.
 *
 * @example
 *   const d = checkFix(patterns.get("nginx")!.spec.policy, fix);
 *   if (!d.allowed) refuse(d.refused.map((r) => r.reason).join("\n"));
 *   else if (needsApproval(d.risk, config.executor.auto_approve_max_risk)) waitForOperator();
 */
export function checkFix(policy: Policy, fix: FixProposal): PolicyDecision {
  const verdicts: PolicyVerdict[] = [];
  const add = (list: unknown[] | undefined, kind: PolicyVerdict["kind"]) => {
    if (list !== undefined && !Array.isArray(list)) {
      verdicts.push({ index: 0, kind, action: list, allowed: false, reason: `${kind} steps are not a list` });
      return;
    }
    (list ?? []).forEach((a, i) => {
      verdicts.push(checkAction(policy, a, kind, i));
    });
  };
  add(fix.actions, "action");
  if (!Array.isArray(fix.actions) || fix.actions.length === 0)
    verdicts.push({
      index: 0,
      kind: "action",
      action: fix.actions,
      allowed: false,
      reason: "a fix needs at least one action",
    });
  add(fix.preconditions, "precondition");
  add(fix.verify, "verify");
  add(fix.rollback, "rollback");
  const refused = verdicts.filter((x) => !x.allowed);
  const claimed = fix.claimed_risk && fix.claimed_risk in RISK_ORDER ? fix.claimed_risk : "low";
  const risk = maxRisk(claimed, ...verdicts.flatMap((x) => (x.risk ? [x.risk] : [])));
  return { allowed: refused.length === 0, risk, verdicts, refused };
}

/** True when a fix of this risk must wait for an operator's approval. */
export function needsApproval(risk: Risk, autoApproveMaxRisk: Risk): boolean {
  return RISK_ORDER[risk] > RISK_ORDER[autoApproveMaxRisk];
}

/**
 * POSIX single-quote quoting: inside '…' no character is special, and a quote is written as '\''.
 * The result is one word for any input, so no character of an argument can become shell syntax.
 * (NUL cannot be passed at all; the policy refuses control characters before this is reached.)
 */
export function shellQuote(arg: string): string {
  if (arg !== "" && /^[A-Za-z0-9_/.,:=+@%-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** One line naming an action for reasons and logs: `run chmod 644 /var/www/x`, `write_file /etc/…`. */
export function describeAction(action: unknown): string {
  return escapeControls(describeRaw(action));
}

function describeRaw(action: unknown): string {
  if (!action || typeof action !== "object") return `action ${JSON.stringify(action) ?? String(action)}`;
  const a = action as Record<string, unknown>;
  const text = (x: unknown) => JSON.stringify(x)?.slice(0, 200) ?? String(x);
  switch (a.type) {
    case "run": {
      const args = Array.isArray(a.args) ? a.args : [];
      return `run ${[a.program, ...args]
        .map((x) => (typeof x === "string" ? shellQuote(x) : text(x)))
        .join(" ")
        .slice(0, 300)}`;
    }
    case "write_file":
      return `write_file ${text(a.path)}`;
    case "service":
      return `service ${text(a.op)}`;
    case "http":
      return `http ${text(a.url)}`;
    default:
      return `action ${text(action)}`;
  }
}
