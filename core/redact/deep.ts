/**
 * Redaction of structured values (event data, fix steps, heartbeat records, submitted fields):
 * every string is redacted as text, and a string held under a key that means a secret
 * (`{"password": "x"}`, `fields.api_key`) is replaced whole, since the key that gave it away is
 * not part of the string. Objects and arrays are copied only where something changed.
 */
import { redact } from "./engine.ts";
import { isPlaceholder, redacted } from "./types.ts";
import { tokenLike } from "./values.ts";
import { keyStrength, keyWords } from "./vocab.ts";

const MAX_DEPTH = 16;

function secretUnderKey(key: string, value: string): boolean {
  if (isPlaceholder(value)) return false;
  const strength = keyStrength(key);
  return strength === "strong" || (strength === "weak" && tokenLike(value));
}

function kindFor(key: string): "password" | "session" | "secret" {
  const w = keyWords(key).join(" ");
  return /pass|pwd|\bpw\b/.test(w) ? "password" : /sess|\bsid\b/.test(w) ? "session" : "secret";
}

function walk(value: unknown, key: string | undefined, depth: number, tally: { count: number }): unknown {
  if (typeof value === "string") {
    if (key !== undefined && secretUnderKey(key, value)) {
      tally.count++;
      return redacted(kindFor(key));
    }
    const r = redact(value);
    tally.count += r.count;
    return r.text;
  }
  if (value === null || typeof value !== "object" || depth >= MAX_DEPTH) return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    value.forEach((v, i) => {
      const w = walk(v, key, depth + 1, tally);
      if (w === v) return;
      out ??= [...value];
      out[i] = w;
    });
    return out ?? value;
  }
  let out: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(value)) {
    const w = walk(v, k, depth + 1, tally);
    if (w === v) continue;
    out ??= { ...(value as Record<string, unknown>) };
    out[k] = w;
  }
  return out ?? value;
}

/**
 * `value` with every secret redacted (the same object when nothing was), and how many went.
 *
 * @example redactDeep({ user: "bob", password: "hunter2" }).value // { user: "bob", password: "[REDACTED:password]" }
 */
export function redactDeep<T>(value: T): { value: T; count: number } {
  const tally = { count: 0 };
  return { value: walk(value, undefined, 0, tally) as T, count: tally.count };
}
