// Frozen copy of core/redact as of ef5271b (before issue 10), kept only as the baseline bench/redact.bench.ts compares against.
/**
 * The redaction engine: one pre-check (two combined regexes), then each rule whose own gate matches.
 * Runs in the collector on every matched record and in the analyzer before every prompt, so the
 * common case (no trigger at all) costs two regex tests and returns the input string itself.
 */
import {
  type CustomRule,
  isPlaceholder,
  type PatternRule,
  type RedactKind,
  RULES,
  type Rule,
  redacted,
} from "./rules.ts";

export interface RedactResult {
  /** The text with every secret replaced by `[REDACTED:<kind>]`; the input itself when nothing matched. */
  text: string;
  /** How many secrets were replaced. */
  count: number;
  /** Distinct kinds replaced, in rule order. */
  kinds: string[];
}

// The pre-check is the union of the rules' gates, split by case sensitivity because JavaScript
// has no per-alternative flag; a false trigger only costs running the rules, a missed one would leak.
function union(rules: readonly Rule[], ignoreCase: boolean): RegExp {
  const sources = rules.filter((r) => r.gate.ignoreCase === ignoreCase).map((r) => `(?:${r.gate.source})`);
  return new RegExp(sources.length > 0 ? sources.join("|") : "(?!)", ignoreCase ? "i" : "");
}
const GATE_I = union(RULES, true);
const GATE_S = union(RULES, false);

/** Cheap check: false means `redact(text)` would return `text` unchanged. Allocation-free. */
export function mayContainSecret(text: string): boolean {
  return GATE_S.test(text) || GATE_I.test(text);
}

/**
 * Replace secrets (passwords in URLs and key=value pairs, Authorization headers, API keys, tokens,
 * private keys, card numbers) with `[REDACTED:<kind>]`. Idempotent: redact(redact(x).text) changes nothing.
 *
 * @example redact("postgres://odoo:hunter2@db/odoo").text === "postgres://odoo:[REDACTED:url-password]@db/odoo"
 */
export function redact(text: string): RedactResult {
  if (!mayContainSecret(text)) return { text, count: 0, kinds: [] };
  const tally = new Tally();
  const hit = (kind: RedactKind) => tally.add(kind);
  let out = text;
  for (const rule of RULES) {
    if (!rule.gate.test(out)) continue;
    out = "apply" in rule ? (rule as CustomRule).apply(out, hit) : applyPattern(out, rule, tally);
  }
  return { text: out, count: tally.count, kinds: tally.kinds };
}

class Tally {
  count = 0;
  readonly kinds: RedactKind[] = [];
  add(kind: RedactKind): void {
    this.count++;
    if (!this.kinds.includes(kind)) this.kinds.push(kind);
  }
}

function applyPattern(text: string, rule: PatternRule, tally: Tally): string {
  const re = rule.re;
  re.lastIndex = 0;
  let out = "";
  let last = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const span = secretSpan(m, rule.whole === true);
    if (span === undefined) continue;
    const [start, end] = span;
    const secret = text.slice(start, end);
    if (isPlaceholder(secret) || (rule.accept !== undefined && !rule.accept(secret, m))) continue;
    const kind = rule.kindOf?.(m) ?? rule.kind;
    out += text.slice(last, start) + redacted(kind);
    last = end;
    tally.add(kind);
  }
  return last === 0 ? text : out + text.slice(last);
}

// The last capture group that took part in the match (each alternative captures its value in its
// own group), or the whole match.
function secretSpan(m: RegExpExecArray, whole: boolean): [number, number] | undefined {
  const indices = m.indices;
  if (indices === undefined) return undefined;
  if (!whole) {
    for (let g = m.length - 1; g >= 1; g--) {
      const s = indices[g];
      if (s !== undefined) return s;
    }
  }
  return indices[0];
}
