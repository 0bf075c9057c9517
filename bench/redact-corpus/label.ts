/**
 * How captured lines get their labels. Every secret a scenario sets is built from random
 * fragments (8 letters and digits, or a word and four digits) joined by the reserved characters
 * the family is about (`/`, `@`, `'`, `"`, `%`…). A line holds a secret when it holds any fragment,
 * and a redaction holds when no fragment survives; so the label does not depend on how a program
 * quoted or escaped the value (`E'…\'…'`, `\"`, `%2F`).
 */

export type Family =
  | "sql"
  | "url"
  | "redis"
  | "query-header"
  | "cookie"
  | "cloud"
  | "structured"
  | "cli"
  | "spacing";

export type Split = "written" | "heldout";

export interface LabelledLine {
  line: string;
  /** The family of the secret the line holds, or "lookalike" for a line that must stay byte-identical. */
  family: Family | "lookalike";
  /** Fragments that must not survive redaction (empty for look-alikes). */
  secrets: string[];
  /** Substrings that must survive (ids, hashes, UUIDs the operator greps for). */
  keep: string[];
  /** Which program wrote the line and how ("postgres 16 log_statement=all", "documented: …"). */
  source: string;
  split: Split;
}

// mulberry32, seeded: the same secrets on every capture run.
let seed = 0x10adbeef;
function rand(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const WORDS = ["Marmot", "Lantern", "Harbor", "Copper", "Falcon", "Juniper", "Velvet", "Orchid", "Saffron"];

export function randomText(n: number, alphabet = ALNUM): string {
  let s = "";
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(rand() * alphabet.length)];
  return s;
}
function fragment(): string {
  const s = randomText(8);
  return /\d/.test(s) && /[A-Z]/.test(s) ? s : `${s.slice(0, 6)}Q7`;
}
const word = () => WORDS[Math.floor(rand() * WORDS.length)]! + randomText(4, "0123456789");

/**
 * A secret of the given shape: `#` is a random fragment, `%` a word-and-digits fragment (what people
 * choose as passwords), anything else literal. `secret("%/#@#")` might be `Falcon2291/xK3fPq9a@Tr4u…`.
 */
export function secret(shape: string): string {
  let out = "";
  for (const c of shape) out += c === "#" ? fragment() : c === "%" ? word() : c;
  return out;
}

/** The fragments a secret was built from: what must not appear in a redacted line. */
export function fragments(value: string): string[] {
  return value.match(/[A-Za-z0-9]{6,}/g) ?? [];
}

/**
 * Label the lines one scenario made: those that hold a fragment of its secrets belong to its
 * family, the rest are look-alikes (they must come out unchanged).
 */
export function label(
  lines: string[],
  o: { family: Family; secrets: string[]; keep?: string[]; source: string; split: Split },
): LabelledLine[] {
  const frags = o.secrets.flatMap(fragments);
  return lines
    .filter((l) => l.trim().length > 0)
    .map((line) => {
      const held = frags.filter((f) => line.includes(f));
      const keep = (o.keep ?? []).filter((k) => line.includes(k));
      return held.length > 0
        ? { line, family: o.family, secrets: held, keep, source: o.source, split: o.split }
        : { line, family: "lookalike" as const, secrets: [], keep, source: o.source, split: o.split };
    });
}
