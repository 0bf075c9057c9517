/**
 * Reading a value where a rule found its key: quoted ("…" with \" escapes, '…' with '' or \'
 * escapes, E'…', $$…$$ / $tag$…$tag$), or bare up to a delimiter. Scanning is by character codes
 * with fixed bounds, so a hostile line costs at most MAX_VALUE characters per key.
 */
export const MAX_VALUE = 4096;

export interface Value {
  /** Span of the secret itself (inside any quotes). */
  start: number;
  end: number;
  /** The quote that enclosed it, or "" for a bare value. */
  quote: string;
}

const BS = 92; // backslash

/** A quoted value starting at `i` (the opening quote), or undefined when unterminated on this line. */
export function quoted(text: string, i: number): Value | undefined {
  let q = text.charCodeAt(i);
  let open = i;
  // \"…\" inside a JSON string (an escaped quote opens the value), and Python's b'…'.
  if (q === BS && (text.charCodeAt(i + 1) === 34 || text.charCodeAt(i + 1) === 39)) {
    q = text.charCodeAt(i + 1);
    open = i + 1;
    return escapedQuoted(text, open + 1, q);
  }
  if (q !== 34 && q !== 39 && q !== 96) return undefined;
  const start = open + 1;
  const limit = Math.min(text.length, start + MAX_VALUE);
  for (let j = start; j < limit; j++) {
    const c = text.charCodeAt(j);
    if (c === 10) return undefined;
    if (c === BS) {
      j++;
      continue;
    }
    if (c === q) {
      // SQL's doubled quote ('it''s') continues the literal.
      if (q === 39 && text.charCodeAt(j + 1) === 39) {
        j++;
        continue;
      }
      return { start, end: j, quote: String.fromCharCode(q) };
    }
  }
  return undefined;
}

// Inside an escaped JSON string the value ends at the next \" that is not itself escaped (\\\").
function escapedQuoted(text: string, start: number, q: number): Value | undefined {
  const limit = Math.min(text.length, start + MAX_VALUE);
  for (let j = start; j < limit; j++) {
    const c = text.charCodeAt(j);
    if (c === 10) return undefined;
    if (c === BS) {
      let k = j;
      while (k < limit && text.charCodeAt(k) === BS) k++;
      // n backslashes then a quote decode to n/2 backslashes and a quote (n odd): that quote closes
      // the inner string when n/2 is even (\" with n = 1), and is escaped inside it when odd (\\\").
      if (text.charCodeAt(k) === q && (k - j) % 4 === 1) return { start, end: j, quote: "\\" };
      j = k;
    }
  }
  return undefined;
}

/** `$$…$$` or `$tag$…$tag$` (PostgreSQL dollar quoting) starting at `i`. */
export function dollarQuoted(text: string, i: number): Value | undefined {
  const m = /^\$([A-Za-z_][A-Za-z0-9_]{0,30})?\$/.exec(text.slice(i, i + 34));
  if (!m) return undefined;
  const start = i + m[0].length;
  const end = text.indexOf(m[0], start);
  if (end < 0 || end - start > MAX_VALUE) return undefined;
  return { start, end, quote: m[0] };
}

// What ends a bare value: whitespace, quotes, and the delimiters of query strings, cookies,
// lists, tags and brackets. `/` and `:` and `@` are allowed: passwords hold them.
function ends(c: number): boolean {
  return (
    c <= 32 ||
    c === 34 || // "
    c === 39 || // '
    c === 44 || // ,
    c === 60 || // <
    c === 62 || // >
    c === 41 || // )
    c === 93 || // ]
    c === 125 || // }
    c === BS ||
    c === 0x3000 // ideographic space
  );
}

const NEXT_PARAM = /^(?:$|[ \t]|[A-Za-z0-9_.[\]%-]{1,64}=|amp;)/;

/** A bare value starting at `i`, up to the next delimiter (or `%26`, an encoded `&`). */
export function bare(
  text: string,
  i: number,
  opts: { encoded?: boolean; toEol?: boolean } = {},
): Value | undefined {
  const limit = Math.min(text.length, i + MAX_VALUE);
  let j = i;
  if (opts.toEol) {
    while (j < limit && text.charCodeAt(j) !== 10 && text.charCodeAt(j) !== 13) j++;
    while (j > i && text.charCodeAt(j - 1) === 32) j--;
  } else {
    // A template reference is one value (`${DB_PASSWORD}`, `{{ vault_pw }}`), braces included.
    const ref =
      /^(?:\$\{[^{}\n]{0,64}\}|\{\{[^{}\n]{0,64}\}\}|<[^<>\s]{1,64}>(?![^\s,;&"'])|\[REDACTED:[a-z-]{1,32}\])/.exec(
        text.slice(i, i + 70),
      );
    if (ref) return { start: i, end: i + ref[0].length, quote: "" };
    // The first character is part of the value whatever it is (a password may start with `)`).
    if (j < limit && !/[\s"']/.test(text[j]!)) j++;
    while (j < limit && !ends(text.charCodeAt(j))) {
      const c = text.charCodeAt(j);
      if (opts.encoded && c === 37 && /^%2[56]/i.test(text.slice(j, j + 3))) break;
      // `&` and `;` end a value where the next parameter or cookie begins (or a space follows);
      // elsewhere they are part of it (Tr0ub4dor&3).
      if ((c === 38 || c === 59) && NEXT_PARAM.test(text.slice(j + 1, j + 66))) break;
      j++;
    }
  }
  // A sentence's full stop or a log field's closing colon is not part of the value.
  while (j > i + 1 && /[.:]/.test(text[j - 1]!) && (j === text.length || ends(text.charCodeAt(j)))) j--;
  return j > i ? { start: i, end: j, quote: "" } : undefined;
}

/** A quoted or dollar-quoted value at `i`, else a bare one. */
export function valueAt(text: string, i: number, opts: { encoded?: boolean } = {}): Value | undefined {
  // Python's bytes repr: b'…' (http.client and botocore debug logs print headers so).
  if (text[i] === "b" && (text[i + 1] === "'" || text[i + 1] === '"')) {
    const v = quoted(text, i + 1);
    if (v) return v;
  }
  const c = text.charCodeAt(i);
  if (c === 34 || c === 39 || c === 96 || c === BS)
    return quoted(text, i) ?? (c === BS ? undefined : bare(text, i + 1, opts));
  return bare(text, i, opts);
}

/**
 * Could this be a credential rather than a word, a number, a path or a flag? Used where the key
 * alone is not proof (`auth=`, `key=`, `session=`, a bare `pass=`): at least 6 characters of a token
 * alphabet, letters and digits both, or 16 or more mixed-case letters.
 */
export function tokenLike(v: string): boolean {
  if (v.length < 6 || v.length > MAX_VALUE) return false;
  if (!/^[A-Za-z0-9+/=_.~%-]+$/.test(v) || /^[/.~-]/.test(v)) return false;
  const letters = /[A-Za-z]/.test(v);
  const digits = /\d/.test(v);
  if (letters && digits) return true;
  return v.length >= 16 && /[a-z]/.test(v) && /[A-Z]/.test(v);
}
