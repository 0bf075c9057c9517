/**
 * The syntaxes a log uses to give a key its value, read from where the key ends:
 *
 *   key=value  key = value  key: value  key := value  key => value  key＝value  key：value
 *   "key": "value"  'key': 'value'  \"key\": \"value\"  ["key", "value"]  key%3Dvalue
 *   <key>value</key>  <ns:key attr="…">value</ns:key>  [key] => value  ["key"]=> string(5) "value"
 *   --key value  --key=value  -key value  key value (identifiers such as aws_secret_access_key)
 *
 * `assignedValue` returns the span of the value, or undefined when what follows the key is not a
 * value it was given (prose, another key, a nested object).
 */
import { bare, quoted, type Value, valueAt } from "../values.ts";

const SPACE = (c: number) => c === 32 || c === 9;
const MAX_GAP = 64;

export interface KeyAt {
  /** Start of the key name (after any dashes or opening quote). */
  start: number;
  /** End of the key name. */
  end: number;
  /** Number of leading dashes (`--password`): a command-line option. */
  dashes: number;
  /** The key has `_` or `-` inside (an identifier such as db_password): may take a space-separated value. */
  compound: boolean;
}

function skipSpaces(text: string, i: number, newlines = false): number {
  const limit = Math.min(text.length, i + MAX_GAP);
  while (i < limit) {
    const c = text.charCodeAt(i);
    if (SPACE(c) || c === 0x3000 || (newlines && (c === 10 || c === 13))) i++;
    else break;
  }
  return i;
}

/** `<key>` or `<ns:key attr="…">`: the value runs to the next `<`. */
function xmlValue(text: string, k: KeyAt): Value | undefined {
  let open = k.start - 1;
  if (text[open] === ":") {
    while (open > 0 && /[A-Za-z0-9_]/.test(text[open - 1]!)) open--;
    open--;
  }
  if (text[open] !== "<") return undefined;
  const close = text.indexOf(">", k.end);
  if (close < 0 || close - k.end > 256 || text.slice(k.end, close).includes("<")) return undefined;
  if (text[close - 1] === "/") return undefined; // <password/>
  const end = text.indexOf("<", close + 1);
  if (end < 0 || end === close + 1 || end - close > 4096) return undefined;
  return { start: close + 1, end, quote: "" };
}

/** The value given to the key that ends at `k.end`, in any of the syntaxes above. */
export function assignedValue(
  text: string,
  k: KeyAt,
): (Value & { spaced: boolean; glued?: boolean }) | undefined {
  let i = k.end;
  const before = text[k.start - 1];
  let keyQuoted = false;
  // Close the key's own quotes: "key", 'key', \"key\", [key], ["key"].
  if ((before === '"' || before === "'") && text[i] === before) {
    keyQuoted = true;
    i++;
  } else if (before === '"' && text[i] === "\\" && text[i + 1] === '"') {
    keyQuoted = true;
    i += 2;
  }
  let php = false;
  if (text[i] === "]") {
    php = true;
    i++;
  }
  if (text[i] === ">" || (text[i] === " " && text[k.start - 1] === "<")) {
    const v = xmlValue(text, k);
    return v && { ...v, spaced: false };
  }
  const afterKey = i;
  i = skipSpaces(text, i);
  const c = text.charCodeAt(i);
  const c2 = text.charCodeAt(i + 1);
  let sep = 0;
  let encoded = false;
  if (c === 61 && c2 === 62)
    sep = 2; // =>
  else if (c === 58 && c2 === 61)
    sep = 2; // :=
  else if (c === 61 || c === 58 || c === 0xff1d || c === 0xff1a)
    sep = 1; // = : ＝ ：
  else if (c === 37 && /^%(?:25)?3D/i.test(text.slice(i, i + 5))) {
    sep = text[i + 1] === "2" ? 5 : 3;
    encoded = true;
  }
  if (sep > 0) {
    // `key::method`, `key==value` (comparisons), `key://` are not assignments.
    const next = text[i + sep];
    if (sep === 1 && (next === text[i] || (c === 58 && next === "/" && text[i + 2] === "/")))
      return undefined;
    i = skipSpaces(text, i + sep, php);
    if (php) {
      // var_dump: ["password"]=>\n  string(8) "value"
      const m = /^string\(\d{1,6}\) /.exec(text.slice(i, i + 16));
      if (m) i += m[0].length;
      else if (text[i] !== '"' && text[i] !== "'")
        return { ...bare(text, i, { toEol: true })!, spaced: false };
    }
    if (i >= text.length) return undefined;
    const v = valueAt(text, i, { encoded });
    // `name:value` with nothing around the colon, the key unquoted: how namespaced names look.
    const glued = c === 58 && sep === 1 && i === afterKey + 1 && !keyQuoted;
    return v && { ...v, spaced: false, glued };
  }
  // ["key", "value"]: a quoted key followed by a quoted value in a list (not `"key", "other": …`).
  if (keyQuoted && c === 44) {
    const j = skipSpaces(text, i + 1);
    const v = quoted(text, j);
    if (!v) return undefined;
    const after = skipSpaces(text, v.end + 1);
    return text[after] === ":" ? undefined : { ...v, spaced: false };
  }
  // key value: command-line options and identifiers; the caller checks the value looks like one.
  if (i > afterKey && !keyQuoted && (k.dashes > 0 || k.compound)) {
    if (text[i] === "-" || i >= text.length) return undefined;
    const v = valueAt(text, i);
    return v && { ...v, spaced: true };
  }
  return undefined;
}
