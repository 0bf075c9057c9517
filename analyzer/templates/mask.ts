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

/**
 * Optional masks, each a MaskOptions flag chosen (or not) by leave-one-dataset-out like every other
 * setting. A host name with a port (`db.internal:5432`) is an address however it is spelt; the value
 * of a `key=value` pair is a value whatever it looks like (`tty=NODEVssh`, `user=root`).
 */
const HOST_PORT: [string, RegExp] = ["hostport", /\b[A-Za-z][\w-]*(?:\.[\w-]+)+:\d{1,5}\b/g];
// Only a value written right after `=`: in `logname= uid=0` logname is empty and uid is the next key.
const KEY_VALUE: [string, RegExp] = ["keyvalue", /(?<=\b[A-Za-z_][\w.-]*=)[^\s,;)\]}"'=]+/g];

/** Separators that become tokens of their own, so `user=root` and `user = root` tokenise alike. */
const TOKEN_RE = /[^\s=:,()[\]{}<>;|"]+|[=:,()[\]{}<>;|"]/g;
const DIGIT_RE = /\d/;
const WS_RE = /\s+/;
const PUNCT_RE = /[=:,()[\]{}<>;|"]/;
const SEPARATORS = new Set(["=", ":", ",", "(", ")", "[", "]", "{", "}", "<", ">", ";", "|", '"']);

export interface MaskOptions {
  /** Mask `host.name:port` (IP addresses with a port are always masked). */
  hostPorts?: boolean;
  /** Mask the value of every `key=value` pair. */
  keyValues?: boolean;
  /** Mask every token that contains a digit (ids, counters, sizes like 12KB, durations like 10ms). */
  maskDigits: boolean;
  /**
   * Collapse a run of wildcards (joined by spaces or by `:` `,` `.`) into one, so a list of values of
   * varying length (`1,2,3` vs `4`) gives the same token count.
   */
  collapseRuns: boolean;
}

// Chosen by leave-one-dataset-out on the LogHub samples (bench/grouping.ts); host:port and key=value
// masking tie with leaving them out there, and group our own services' lines (`user=alice`) better.
export const DEFAULT_MASK: MaskOptions = {
  maskDigits: true,
  collapseRuns: true,
  hostPorts: true,
  keyValues: true,
};

/**
 * Stand-in for a masked span inside the message: a control character that is no separator, so a
 * token with a value embedded in it (`host-10.0.0.1.example.net`) stays one token and is then masked
 * whole.
 */
const HOLE = "\u0002";

/** Replace structured values in a raw message by the wildcard (without tokenising). */
export function maskMessage(message: string, opts: MaskOptions = DEFAULT_MASK): string {
  return maskSpans(message, true, opts).replaceAll(HOLE, WILDCARD);
}

/**
 * All structured patterns as one alternation: one scan of the message instead of one per pattern
 * (the masking is most of the miner's cost). At a given position the first listed pattern wins,
 * which keeps the order above meaningful.
 */
const combined = new Map<string, RegExp>();
function structured(opts: MaskOptions): RegExp {
  const key = `${opts.hostPorts ? 1 : 0}${opts.keyValues ? 1 : 0}`;
  let re = combined.get(key);
  if (!re) {
    // Host:port before the IP rule would not matter (an IP host has no letter to start with);
    // key=value last, so a URL or a quoted value after `=` is masked by its own rule.
    const list = [...STRUCTURED];
    if (opts.hostPorts) list.unshift(HOST_PORT);
    if (opts.keyValues) list.push(KEY_VALUE);
    re = new RegExp(list.map(([, r]) => `(?:${r.source})`).join("|"), "g");
    combined.set(key, re);
  }
  return re;
}

function maskSpans(message: string, wholeWords: boolean, opts: MaskOptions): string {
  const s = message.replace(structured(opts), HOLE);
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
  const masked = maskSpans(message, opts.maskDigits, opts);
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
