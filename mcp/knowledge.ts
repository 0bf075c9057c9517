/**
 * The questions answered from the patterns files alone, with the same pure functions the analyzer
 * and executor use: the policy checker (core/policy), the pattern matcher (core/patterns) and the
 * template miner (analyzer/templates). Nothing here reads the broker.
 */
import { TemplateMiner } from "../analyzer/templates/miner.ts";
import { HttpError } from "../api/http-error.ts";
import { matchPattern } from "../core/patterns/check.ts";
import { stripHeader } from "../core/patterns/header.ts";
import { remediationFields, type ServicePatterns } from "../core/patterns/load.ts";
import { approvalReason } from "../core/policy/approval.ts";
import { checkFix, describeAction } from "../core/policy/index.ts";
import type { ToolContext } from "./tool-kit.ts";

/** The service's patterns, or a 404 naming the known services (the argument was wrong). */
export function serviceOf(patterns: Map<string, ServicePatterns>, service: string): ServicePatterns {
  const sp = patterns.get(service);
  if (!sp)
    throw new HttpError(
      404,
      "unknown_service",
      `argument "service": no patterns file for "${service}" (known: ${[...patterns.keys()].sort().join(", ")})`,
    );
  return sp;
}

/** check_policy: each action's verdict, the fix's risk, and whether it would wait for an operator. */
export async function checkPolicy(
  ctx: ToolContext,
  service: string,
  actions: unknown[],
  source: "rule" | "claude",
) {
  const sp = serviceOf(ctx.patterns, service);
  const d = checkFix(sp.spec.policy, { actions });
  const waits =
    d.allowed && ctx.approval ? approvalReason({ source, risk: d.risk, verify: [] }, ctx.approval) : null;
  return {
    service,
    allowed: d.allowed,
    risk: d.risk,
    verdicts: d.verdicts.map((x) => ({
      index: x.index,
      action: describeAction(x.action),
      allowed: x.allowed,
      ...(x.rule ? { rule: x.rule } : {}),
      ...(x.risk ? { risk: x.risk } : {}),
      ...(x.reason ? { reason: x.reason } : {}),
      ...(x.note ? { note: x.note } : {}),
    })),
    ...(d.allowed && ctx.approval
      ? { needs_approval: waits !== null, ...(waits ? { approval_reason: waits } : {}) }
      : {}),
    policy: sp.spec.policy.description.trim(),
  };
}

/** explain_pattern: one pattern in full, or the service's list. */
export async function explainPattern(ctx: ToolContext, service: string, patternId?: string) {
  const sp = serviceOf(ctx.patterns, service);
  if (!patternId)
    return {
      service,
      patterns: sp.patterns.map(({ pattern: p }) => ({
        id: p.id,
        severity: p.severity,
        category: p.category,
        description: p.description,
        remediation: p.remediation ? `${p.remediation.description} (risk ${p.remediation.risk})` : null,
      })),
    };
  const cp = sp.patterns.find((c) => c.pattern.id === patternId);
  if (!cp)
    throw new HttpError(
      404,
      "unknown_pattern",
      `argument "pattern_id": ${service} has no pattern "${patternId}" (known: ${sp.patterns.map((c) => c.pattern.id).join(", ")})`,
    );
  const p = cp.pattern;
  // The remediation judged as the analyzer would judge it for the first example line.
  const example = p.examples[0]!;
  const fields = matchPattern(cp, example, stripHeader(sp, example).message) ?? {};
  const remediation = p.remediation
    ? (() => {
        const r = p.remediation;
        const d = checkFix(sp.spec.policy, {
          actions: fill(r.actions, fields),
          preconditions: fill(r.preconditions, fields),
          verify: fill(r.verify, fields),
          rollback: fill(r.rollback, fields),
          claimed_risk: r.risk,
        });
        const auto = ctx.approval
          ? approvalReason({ source: "rule", risk: d.risk, verify: r.verify }, ctx.approval)
          : undefined;
        return {
          description: r.description,
          declared_risk: r.risk,
          uses_fields: remediationFields(p),
          for_first_example: {
            fields,
            actions: d.verdicts.filter((x) => x.kind === "action").map((x) => describeAction(x.action)),
            allowed_by_policy: d.allowed,
            risk: d.risk,
            ...(d.refused.length ? { refused: d.refused.map((x) => x.reason) } : {}),
            ...(auto !== undefined
              ? { runs_without_approval: auto === null, ...(auto ? { waits_because: auto } : {}) }
              : {}),
          },
        };
      })()
    : null;
  return {
    service,
    id: p.id,
    description: p.description,
    severity: p.severity,
    category: p.category,
    regex: p.regex,
    flags: p.flags,
    matched_on: p.on,
    fields: cp.groups,
    examples: p.examples,
    counter_examples: p.counter_examples,
    remediation,
    position: `pattern ${cp.index + 1} of ${sp.patterns.length} (first match wins)`,
  };
}

/** Replace `${name}` in every string of a remediation with the matched field. */
function fill<T>(value: T, fields: Record<string, string>): T {
  if (typeof value === "string") return value.replace(/\$\{(\w+)\}/g, (m, k: string) => fields[k] ?? m) as T;
  if (Array.isArray(value)) return value.map((x) => fill(x, fields)) as T;
  if (value && typeof value === "object")
    return Object.fromEntries(Object.entries(value).map(([k, x]) => [k, fill(x, fields)])) as T;
  return value;
}

/** group_lines: templates most frequent first, with progress every PROGRESS_EVERY lines. */
export async function groupLines(ctx: ToolContext, lines: string[], service?: string) {
  const sp = service ? serviceOf(ctx.patterns, service) : undefined;
  const miner = new TemplateMiner({ service: service ?? "" });
  let n = 0;
  for (let i = 0; i < lines.length; i++) {
    if (ctx.signal.aborted) throw new Error("cancelled by the client");
    const line = lines[i]!;
    if (line.trim() !== "") {
      miner.add(sp ? stripHeader(sp, line).message : line);
      n++;
    }
    if ((i + 1) % PROGRESS_EVERY === 0) {
      await ctx.progress(i + 1, lines.length, `${i + 1} of ${lines.length} lines`);
      // Let the transport send the notification while a long input is mined.
      await Bun.sleep(0);
    }
  }
  await ctx.progress(lines.length, lines.length, "done");
  const templates = miner
    .clusters()
    .sort((a, b) => b.count - a.count)
    .map((c) => ({ count: c.count, template: c.template, example: c.example }));
  return { lines: n, templates };
}

const PROGRESS_EVERY = 1000;
