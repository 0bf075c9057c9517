/**
 * Rule-based proposals: a pattern's `remediation` in `patterns/<service>.yml` becomes a proposal
 * with no Claude call (`source: rule`). `${field}` placeholders are filled from the event's named
 * fields, one whole string value at a time and never by building a command line: actions stay typed
 * (program + argument list), so a value can only ever become one argument, and the policy check
 * then decides whether that argument is acceptable (a path outside the roots is refused there).
 */
import * as v from "valibot";
import { remediationFields } from "../core/patterns/load.ts";
import type { Pattern } from "../core/patterns/schema.ts";
import { Action, Check } from "../core/schemas/actions.ts";
import { summarizeIssues } from "../core/schemas/codec.ts";
import type { Analysis } from "./types.ts";

const PLACEHOLDER = /\$\{([A-Za-z_]\w*)\}/g;
// Control characters (newlines included) never belong in an argument or a path; a log line that
// carries them is trying to smuggle something, so the substitution is refused outright.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;
const MAX_VALUE = 4096;

/** Field names a remediation uses: a non-empty set means its fix is specific to one host and value. */
export { remediationFields };

export type RuleResult = { ok: true; analysis: Analysis } | { ok: false; reason: string } | null;

/**
 * The pattern's remediation filled with `fields`; null when the pattern has none. A missing field,
 * a value with control characters or an oversized value refuses the whole rule (with the reason).
 */
export function ruleProposal(pattern: Pattern | undefined, fields: Record<string, string>): RuleResult {
  const rem = pattern?.remediation;
  if (!rem) return null;
  let problem: string | null = null;
  const fill = (x: unknown): unknown => {
    if (typeof x === "string") {
      return x.replace(PLACEHOLDER, (whole, name: string) => {
        const value = fields[name];
        if (value === undefined) problem ??= `field ${name} is missing from the event`;
        else if (CONTROL.test(value)) problem ??= `field ${name} contains control characters`;
        else if (value.length > MAX_VALUE) problem ??= `field ${name} is longer than ${MAX_VALUE} characters`;
        else return value;
        return whole;
      });
    }
    if (Array.isArray(x)) return x.map(fill);
    if (x && typeof x === "object")
      return Object.fromEntries(Object.entries(x).map(([k, val]) => [k, fill(val)]));
    return x;
  };
  const filled = {
    actions: fill(rem.actions),
    preconditions: fill(rem.preconditions),
    verify: fill(rem.verify),
    rollback: fill(rem.rollback),
  };
  if (problem) return { ok: false, reason: `rule ${pattern!.id} not applied: ${problem}` };
  const parsed = v.safeParse(
    v.object({
      actions: v.array(Action),
      preconditions: v.array(Check),
      verify: v.array(Check),
      rollback: v.array(Action),
    }),
    filled,
  );
  if (!parsed.success) {
    return {
      ok: false,
      reason: `rule ${pattern!.id} has invalid actions: ${summarizeIssues(parsed.issues)}`,
    };
  }
  return {
    ok: true,
    analysis: {
      diagnosis: pattern!.description,
      root_cause: rem.description,
      confidence: 1,
      risk: rem.risk,
      ...parsed.output,
    },
  };
}
