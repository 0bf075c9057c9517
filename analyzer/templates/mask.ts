/**
 * Masking and tokenisation: turns a message into the token list the miner compares. Everything that
 * is obviously a value (numbers, hex, addresses, ids, paths, quoted strings) becomes the wildcard
 * before the miner sees it, so that grouping only has to decide about the remaining words.
 */

/** The wildcard token, as LogHub writes it in its templates. */
export const WILDCARD = "<*>";

/**
 * Structured values masked on the raw message, before tokenisation, because their own punctuation
 * (dots, colons, slashes, dashes) would otherwise split them into several tokens of varying count.
 * Order matters: URLs before paths, UUIDs before hex, IPs (with port) before plain numbers.
 */
const STRUCTURED: Array<[string, RegExp]> = [
  // A URL does not end with `:` `.` `,`: those are the sentence's (`…/p11: scheduler…`).
  ["url", /\b[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^\s"'<>()[\]{},;]*[^\s"'<>()[\]{},;:.]/g],
  ["uuid", /\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b/g],
  ["mac", /\b[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}\b/g],
  ["ipv6", /\b(?:[0-9a-fA-F]{1,4}:){3,7}[0-9a-fA-F]{1,4}\b/g],
  ["ipv4", /\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b/g],
  ["hex", /\b0[xX][0-9a-fA-F]+\b/g],
  // A path starts at a slash that opens a token (or follows `=`, `:` or a bracket) and has at least
  // two segments, so a lone `/` or a ratio like `3/4` stays as it is.
  ["path", /(?<=^|[\s=:([{'"])(?:~|\.{1,2})?(?:\/[\w.@%+~-]+){2,}\/?/g],
  // Dates spelled out (`Sun Jul 10 03:55:21 2005 EDT`): the names are values, like the numbers.
  ["dayname", /\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)\b/g],
  ["month", /\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\b(?=[\s\d.,:/-])/g],
  ["zone", /\b(?:UTC|GMT|EST|EDT|CST|CDT|MST|MDT|PST|PDT|CET|CEST)\b/g],
  // An empty pair of brackets is an empty value, not a different message: `from 1.2.3.4 ()`.
  ["empty", /(?<=\()\s*(?=\))|(?<=\[)\s*(?=\])/g],
  ["quoted", /"[^"\n]*"|(?<=[\s=:(])'[^'\n]*'/g],
];

/** Separators that become tokens of their own, so `user=root` and `user = root` tokenise alike. */
const TOKEN_RE = /[^\s=:,()[\]{}<>;|"]+|[=:,()[\]{}<>;|"]/g;
const DIGIT_RE = /\d/;
const WS_RE = /\s+/;
const PUNCT_RE = /[=:,()[\]{}<>;|"]/;
const SEPARATORS = new Set(["=", ":", ",", "(", ")", "[", "]", "{", "}", "<", ">", ";", "|", '"']);

export interface MaskOptions {
  /** Mask every token that contains a digit (ids, counters, sizes like 12KB, durations like 10ms). */
  maskDigits: boolean;
  /**
   * Collapse a run of wildcards (joined by spaces or by `:` `,` `.`) into one, so a list of values of
   * varying length (`1,2,3` vs `4`) gives the same token count.
   */
  collapseRuns: boolean;
}

export const DEFAULT_MASK: MaskOptions = { maskDigits: true, collapseRuns: true };

/**
 * Stand-in for a masked span inside the message: a control character that is no separator, so a
 * token with a value embedded in it (`host-10.0.0.1.example.net`) stays one token and is then masked
 * whole.
 */
const HOLE = "\u0002";

/** Replace structured values in a raw message by the wildcard (without tokenising). */
export function maskMessage(message: string): string {
  return maskSpans(message).replaceAll(HOLE, WILDCARD);
}

/**
 * All structured patterns as one alternation: one scan of the message instead of one per pattern
 * (the masking is most of the miner's cost). At a given position the first listed pattern wins,
 * which keeps the order above meaningful.
 */
const STRUCTURED_ONE = new RegExp(STRUCTURED.map(([, re]) => `(?:${re.source})`).join("|"), "g");

function maskSpans(message: string, wholeWords = true): string {
  const s = message.replace(STRUCTURED_ONE, HOLE);
  return wholeWords ? s.replace(VALUE_WORD_RE, maskWord) : s;
}

/**
 * A whitespace-delimited word that holds a digit or a masked span is one value, however it is
 * punctuated inside (`LOCAL(127.127.1.0)`, `blk_-42`, `<0>(0x0)::x`): masking the whole word keeps
 * the token count the same for every value. A leading `key=` / `key:` and the surrounding brackets
 * and trailing punctuation stay, since they are part of the message's shape (`uid=<*>`, `[<*>]:`).
 */
const VALUE_WORD_RE = /[^\s]*[\d\u0002][^\s]*/g;
const WORD_PARTS_RE = /^([[(]*(?:[A-Za-z_][\w.-]*[=:])?)(.*?)([\],;:.)]*)$/;
function maskWord(word: string): string {
  const m = WORD_PARTS_RE.exec(word);
  if (!m) return HOLE;
  if (m[2] === "") return word;
  // A closing bracket whose opener is inside the value belongs to the value (`LOCAL(1.2.3.4),`);
  // one opened before the value (`(v001 … 0x01)`) stays as the message's punctuation.
  let opens = 0;
  for (const ch of m[2]!) if (ch === "(" || ch === "[") opens++;
  let tail = m[3]!;
  while (opens > 0 && (tail[0] === ")" || tail[0] === "]")) {
    tail = tail.slice(1);
    opens--;
  }
  return m[1] + HOLE + tail;
}

/** True for a token that only separates others (`=`, `:`, brackets...). */
export function isSeparator(token: string): boolean {
  return SEPARATORS.has(token);
}

/**
 * Mask and tokenise a message. When `spaces` is given it receives, per token, whether whitespace
 * preceded it, so a template can be printed with the message's own spacing. Example:
 * `tokenize('Accepted password for root from 10.0.0.1 port 22')`
 * → `['Accepted','password','for','root','from','<*>','port','<*>']`
 */
export function tokenize(message: string, opts: MaskOptions = DEFAULT_MASK, spaces?: boolean[]): string[] {
  const masked = maskSpans(message, opts.maskDigits);
  const out: string[] = [];
  const sp = spaces ?? [];
  // Whitespace first, then punctuation inside a word only when it has some: most words have none,
  // and this path is the miner's hot loop.
  for (const word of masked.split(WS_RE)) {
    if (word === "") continue;
    if (!PUNCT_RE.test(word)) {
      emit(word, true, out, sp, opts);
      continue;
    }
    const parts = word.match(TOKEN_RE)!;
    for (let i = 0; i < parts.length; i++) emit(parts[i]!, i === 0, out, sp, opts);
  }
  return out;
}

function emit(t: string, space: boolean, out: string[], spaces: boolean[], opts: MaskOptions): void {
  if (t.includes(HOLE) || (opts.maskDigits && DIGIT_RE.test(t))) t = WILDCARD;
  if (opts.collapseRuns && t === WILDCARD) {
    // Drop `<*>` and `<*> ,` / `<*> :` tails already emitted so the run keeps a single wildcard.
    const last = out[out.length - 1];
    if (last === WILDCARD) return;
    if ((last === "," || last === ":") && out[out.length - 2] === WILDCARD) {
      out.pop();
      spaces.pop();
      return;
    }
  }
  out.push(t);
  spaces.push(space);
}

/** Render tokens back to text, with a space where `spaces` says the message had one. */
export function renderTemplate(tokens: readonly string[], spaces?: readonly boolean[]): string {
  let s = "";
  for (let i = 0; i < tokens.length; i++) {
    if (i > 0 && (spaces ? spaces[i] : true)) s += " ";
    s += tokens[i];
  }
  return s;
}
