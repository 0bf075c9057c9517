import { stripHeader } from "../core/patterns/header.ts";
import type { CompiledPattern, ServicePatterns } from "../core/patterns/load.ts";
import type { Pattern } from "../core/patterns/schema.ts";

/** A record that matched one of its service's patterns. */
export interface Match {
  pattern: Pattern;
  /** The regex's named groups that took part in the match. */
  fields: Record<string, string>;
  /** The record without its header: what the pattern was matched against. */
  message: string;
  time?: string;
  level?: string;
  pid?: string;
}

export interface Matcher {
  /**
   * The first pattern of `service` (in file order) matching `record` (its text, or an assembled
   * record from collector/multiline.ts), or null. Unknown service: null.
   */
  match(service: string, record: string | { text: string }): Match | null;
  /**
   * Whether `text` holds a literal that some pattern of `service` requires: a cheap hint that a
   * fragment (the tail of a cut line) is about an error, without matching it as a message.
   */
  mentions(service: string, text: string): boolean;
}

interface Entry {
  cp: CompiledPattern;
  /** Any-of literals that every match contains; undefined when none could be derived (always tried). */
  literals: string[] | undefined;
}

interface Compiled {
  sp: ServicePatterns;
  entries: Entry[];
  /** Tests for any literal of any prefiltered pattern; a miss means only the unfiltered ones can match. */
  prefilter: RegExp | undefined;
  unfiltered: number;
}

/**
 * The hot path of the collector. Most records match nothing, so a miss must be cheap: each pattern
 * contributes literals that any match must contain (derived from its regex), all literals of a
 * service go into one prefilter regex (see prefilterSource), and a record that contains none is
 * rejected by one `test()` without stripping its header or running any pattern. Only on a hit are
 * the patterns run, in file order, to find the first that matches and extract its fields.
 *
 * Literals are looked for in the whole record: a literal required in the message is also in the
 * record, so the prefilter never rejects a record a pattern would match.
 */
export function createMatcher(
  input: ServicePatterns | Iterable<ServicePatterns> | Map<string, ServicePatterns>,
): Matcher {
  const list: ServicePatterns[] =
    input instanceof Map
      ? [...input.values()]
      : "patterns" in input
        ? [input as ServicePatterns]
        : [...input];
  const services = new Map<string, Compiled>();
  for (const sp of list) services.set(sp.service, compile(sp));

  return {
    match(service, input) {
      const c = services.get(service);
      if (!c) return null;
      const record = typeof input === "string" ? input : input.text;
      const hit = c.prefilter?.test(record);
      if (!hit && c.unfiltered === 0) return null;
      let stripped: ReturnType<typeof stripHeader> | undefined;
      for (const { cp, literals } of c.entries) {
        if (literals) {
          if (!hit || !includesAny(record, literals)) continue;
        }
        stripped ??= stripHeader(c.sp, record);
        const m = cp.re.exec(cp.pattern.on === "record" ? record : stripped.message);
        if (!m) continue;
        const fields: Record<string, string> = {};
        if (m.groups) for (const k in m.groups) if (m.groups[k] !== undefined) fields[k] = m.groups[k]!;
        const out: Match = { pattern: cp.pattern, fields, message: stripped.message };
        if (stripped.time !== undefined) out.time = stripped.time;
        if (stripped.level !== undefined) out.level = stripped.level;
        if (stripped.pid !== undefined) out.pid = stripped.pid;
        return out;
      }
      return null;
    },
    mentions(service, text) {
      return services.get(service)?.prefilter?.test(text) === true;
    },
  };
}

function includesAny(s: string, literals: string[]): boolean {
  for (const l of literals) if (s.includes(l)) return true;
  return false;
}

function compile(sp: ServicePatterns): Compiled {
  const entries: Entry[] = [];
  const all = new Set<string>();
  let unfiltered = 0;
  for (const cp of sp.patterns) {
    // A global or sticky regex would carry lastIndex from one record to the next.
    if (cp.re.global || cp.re.sticky)
      throw new Error(`pattern ${cp.pattern.id}: g and y flags are not supported`);
    const literals = requiredLiterals(cp.pattern.regex, cp.re.flags);
    if (literals) for (const l of literals) all.add(l);
    else unfiltered++;
    entries.push({ cp, literals });
  }
  const prefilter = all.size > 0 ? new RegExp(prefilterSource([...all])) : undefined;
  return { sp, entries, prefilter, unfiltered };
}

const MIN_LITERAL = 3;

/**
 * For each top-level alternative of `source`, the longest run of literal characters that every
 * match of that alternative contains; undefined when some alternative has none of at least
 * MIN_LITERAL characters, or with the `i` flag (then the pattern is always tried).
 * Conservative by construction: groups, classes, escapes and optional atoms end a run.
 */
export function requiredLiterals(source: string, flags = ""): string[] | undefined {
  if (flags.includes("i")) return undefined;
  const out: string[] = [];
  for (const branch of splitTop(source)) {
    const lit = longestLiteral(branch);
    if (lit.length < MIN_LITERAL) return undefined;
    out.push(lit);
  }
  return out;
}

/** Index just past the character class that opens at `i`. */
function skipClass(s: string, i: number): number {
  for (i++; i < s.length && s[i] !== "]"; i++) if (s[i] === "\\") i++;
  return i + 1;
}

/** Index just past the group or class that opens at `i` (escapes and nested classes respected). */
function skipBracketed(s: string, i: number): number {
  if (s[i] === "[") return skipClass(s, i);
  let depth = 0;
  while (i < s.length) {
    const c = s[i];
    if (c === "\\") i += 2;
    else if (c === "[") i = skipClass(s, i);
    else {
      if (c === "(") depth++;
      else if (c === ")" && --depth === 0) return i + 1;
      i++;
    }
  }
  return s.length;
}

function splitTop(s: string): string[] {
  const parts: string[] = [];
  let from = 0;
  for (let i = 0; i < s.length; ) {
    const c = s[i];
    if (c === "\\") i += 2;
    else if (c === "(" || c === "[") i = skipBracketed(s, i);
    else if (c === "|") {
      parts.push(s.slice(from, i));
      from = ++i;
    } else i++;
  }
  parts.push(s.slice(from));
  return parts;
}

/** Length of a quantifier at `i` and whether it allows zero repetitions; [0, false] if none. */
function quantifier(s: string, i: number): [len: number, optional: boolean] {
  const c = s[i];
  let len = 0;
  let optional = false;
  if (c === "?" || c === "*") [len, optional] = [1, true];
  else if (c === "+") len = 1;
  else if (c === "{") {
    const m = /^\{(\d+)(,\d*)?\}/.exec(s.slice(i, i + 16));
    if (m) [len, optional] = [m[0].length, m[1] === "0"];
  }
  if (len > 0 && s[i + len] === "?") len++;
  return [len, optional];
}

function longestLiteral(b: string): string {
  let best = "";
  let run = "";
  const end = () => {
    if (run.length > best.length) best = run;
    run = "";
  };
  for (let i = 0; i < b.length; ) {
    const c = b[i]!;
    let atom: string | undefined;
    if (c === "\\") {
      const n = b[i + 1] ?? "";
      if (/[^A-Za-z0-9]/.test(n)) [atom, i] = [n, i + 2];
      else if (n === "t") [atom, i] = ["\t", i + 2];
      else if (n === "x") i += 4;
      else if (n === "u") i = b[i + 2] === "{" ? b.indexOf("}", i) + 1 : i + 6;
      else if (n === "k") i = b.indexOf(">", i) + 1;
      else if (n === "p" || n === "P") i = b.indexOf("}", i) + 1;
      else if (n === "c") i += 3;
      else if (/\d/.test(n)) for (i += 1; /\d/.test(b[i] ?? ""); i++);
      else i += 2;
    } else if (c === "(" || c === "[") i = skipBracketed(b, i);
    else if ("^$.".includes(c)) i++;
    else [atom, i] = [c, i + 1];
    const [qlen, optional] = quantifier(b, i);
    i += qlen;
    if (atom === undefined || optional) end();
    else {
      run += atom;
      if (qlen > 0) end();
    }
  }
  end();
  return best;
}

/** Characters from most to least frequent in log lines; anything absent counts as rarest. */
const COMMON = " etaoinsrhldcumfpgwybvkxjqz0123456789.:-,/=[]ETAOINSRHLDCUMFPGWYBVKXJQZ";

/** Where in a literal the prefilter starts looking: its rarest character (keeping at least 4 after it). */
export function rareStart(lit: string): number {
  const rarity = (c: string) => {
    const i = COMMON.indexOf(c);
    return i === -1 ? COMMON.length : i;
  };
  let best = 0;
  for (let i = 1; i + 4 <= lit.length; i++) if (rarity(lit[i]!) > rarity(lit[best]!)) best = i;
  return best;
}

interface Word {
  rest: string;
  full: string;
}

/**
 * One regex that matches where any literal occurs. Measured in JavaScriptCore on 100-character
 * lines: a plain alternation of the literals costs 250-320 ns a line, because every alternative is
 * tried at every position. Here each literal is entered at its rarest character (most positions fail
 * on the first character), the alternatives share a prefix tree, and a lookbehind then checks the
 * part of the literal before that character, so a hit means a whole literal is present and
 * near-misses ("client timed out (110: …" for "upstream timed out (110: …") cost nothing more.
 */
export function prefilterSource(literals: string[]): string {
  return alternatives(literals.map((full) => ({ rest: full.slice(rareStart(full)), full }))).join("|");
}

function alternatives(words: Word[]): string[] {
  const alts: string[] = [];
  const byFirst = new Map<string, Word[]>();
  for (const w of words) {
    if (w.rest === "") {
      // The whole suffix was consumed: the literal is present if its prefix precedes it.
      if (rareStart(w.full) === 0) return [""];
      alts.push(`(?<=${escapeRegExp(w.full)})`);
      continue;
    }
    const group = byFirst.get(w.rest[0]!) ?? [];
    group.push({ rest: w.rest.slice(1), full: w.full });
    byFirst.set(w.rest[0]!, group);
  }
  for (const [c, group] of byFirst) {
    const sub = alternatives(group);
    alts.push(escapeRegExp(c) + (sub.length === 1 ? sub[0] : `(?:${sub.join("|")})`));
  }
  return alts;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}
