/**
 * The redaction engine: every rule whose gate matches (gates are tested in chunks, see below) reports spans on the original text; overlapping spans merge and the text is
 * written once. Runs in the collector on every matched record, at every other way into the
 * system (API, heartbeats, fix output, events, mcpmon's own logs) and before every prompt, so the
 * common case (no gate matches) costs a few regex tests and returns the input string itself.
 */
import { RULES } from "./rules/index.ts";
import { type RedactKind, type Rule, redacted } from "./types.ts";

export interface RedactResult {
  /** The text with every secret replaced by `[REDACTED:<kind>]`; the input itself when nothing matched. */
  text: string;
  /** How many secrets were replaced. */
  count: number;
  /** Distinct kinds replaced, in order of appearance. */
  kinds: string[];
  /** Names of the rules that fired, in order of appearance (what `mcpmon redact --explain` prints). */
  rules: string[];
}

interface Span {
  start: number;
  end: number;
  kind: RedactKind;
  rule: number;
}

// Gates are tested per group (types.ts `group`): one union regex for rules that rarely fire (the
// issuers' token shapes), one test each for the others. One union of every gate was slower: on
// the many lines with a common trigger word ("authentication failure") every rule's own gate
// then had to be tested as well. A false trigger only costs running a gate; a missed one would leak.
interface Group {
  gate: RegExp;
  members: number[];
}
function groups(rules: readonly Rule[]): Group[] {
  const byName = new Map<string, number[]>();
  rules.forEach((r, i) => {
    const key = r.group ?? `#${i}`;
    byName.set(key, [...(byName.get(key) ?? []), i]);
  });
  return [...byName.values()].map((members) => {
    if (members.length === 1) return { gate: rules[members[0]!]!.gate, members };
    const gates = members.map((i) => rules[i]!.gate);
    const source = gates.map((g) => `(?:${g.source})`).join("|");
    return { gate: new RegExp(source, gates.some((g) => g.ignoreCase) ? "i" : ""), members };
  });
}
const GROUPS = groups(RULES);
const NONE: RedactResult = Object.freeze({ text: "", count: 0, kinds: [], rules: [] }) as RedactResult;

/** Cheap check: false means `redact(text)` would return `text` unchanged. Allocation-free. */
export function mayContainSecret(text: string): boolean {
  for (const g of GROUPS) if (g.gate.test(text)) return true;
  return false;
}

/**
 * Replace secrets with `[REDACTED:<kind>]`, keeping keys, schemes, user names and hosts readable.
 * Idempotent: redact(redact(x).text) changes nothing. `keepLines` keeps the number of lines.
 *
 * @example redact("postgres://odoo:hunter2@db/odoo").text === "postgres://odoo:[REDACTED:url-password]@db/odoo"
 */
export function redact(text: string, opts: { keepLines?: boolean } = {}): RedactResult {
  if (text.length === 0) return NONE;
  const spans: Span[] = [];
  const run = (r: number) =>
    RULES[r]!.find(text, (start, end, kind) => {
      if (end > start) spans.push({ start, end, kind, rule: r });
    });
  for (const g of GROUPS) {
    if (!g.gate.test(text)) continue;
    if (g.members.length === 1) run(g.members[0]!);
    else for (const i of g.members) if (RULES[i]!.gate.test(text)) run(i);
  }
  if (spans.length === 0) return { ...NONE, text };
  return write(text, merge(spans), opts.keepLines === true);
}

// Sorted by start; overlapping or touching spans become one, named by the earliest rule in
// RULES order (format rules come first, so `api_key=sk-ant-…` reports anthropic-key).
function merge(spans: Span[]): Span[] {
  spans.sort((a, b) => a.start - b.start || b.end - a.end);
  const out: Span[] = [];
  for (const s of spans) {
    const last = out[out.length - 1];
    if (last && s.start < last.end) {
      if (s.end > last.end) last.end = s.end;
      if (s.rule < last.rule) {
        last.rule = s.rule;
        last.kind = s.kind;
      }
    } else out.push({ ...s });
  }
  return out;
}

// keepLines: a span across lines (a private key block) leaves its marker on each of its lines, so the
// output has as many lines as the input (what `mcpmon redact` promises).
function write(text: string, spans: Span[], keepLines: boolean): RedactResult {
  let out = "";
  let last = 0;
  const kinds: string[] = [];
  const rules: string[] = [];
  for (const s of spans) {
    const marker = redacted(s.kind);
    const inner = keepLines ? text.slice(s.start, s.end) : "";
    out += text.slice(last, s.start) + (inner.includes("\n") ? inner.replace(/[^\n]+/g, marker) : marker);
    last = s.end;
    if (!kinds.includes(s.kind)) kinds.push(s.kind);
    const name = RULES[s.rule]!.name;
    if (!rules.includes(name)) rules.push(name);
  }
  return { text: out + text.slice(last), count: spans.length, kinds, rules };
}
