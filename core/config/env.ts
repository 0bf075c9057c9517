/**
 * `${VAR}` and `${VAR:-default}` interpolation in every string of a parsed config.
 * `$${` escapes a literal `${`. A `${VAR}` whose variable is unset becomes "" (so an optional API
 * key can stay in the file), except where a check later requires a value.
 */
const PATTERN = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{[^}]*\}?/g;

export function interpolateString(
  text: string,
  env: Record<string, string | undefined>,
  onError?: (message: string) => void,
): string {
  return text.replace(PATTERN, (match, name: string | undefined, fallback: string | undefined) => {
    if (match === "$${") return "${";
    if (name === undefined) {
      onError?.(
        `malformed variable reference ${JSON.stringify(match)}: expected \${NAME} or \${NAME:-default}`,
      );
      return match;
    }
    const value = env[name];
    if (value !== undefined && value !== "") return value;
    return fallback ?? "";
  });
}

export function interpolateEnv(
  value: unknown,
  env: Record<string, string | undefined>,
  onError: (path: Array<string | number>, message: string) => void,
  path: Array<string | number> = [],
  /** Told of every value a variable changed (with its raw text), so errors can name the variable. */
  onSubstituted?: (path: Array<string | number>, raw: string) => void,
): unknown {
  if (typeof value === "string") {
    const out = interpolateString(value, env, (m) => onError(path, m));
    if (out !== value) onSubstituted?.(path, value);
    // A value that is only one reference (`port: ${PORT:-8080}`) takes the type it spells.
    if (out !== value && /^\$\{[^}]+\}$/.test(value)) return coerceScalar(out);
    return out;
  }
  if (Array.isArray(value))
    return value.map((item, i) => interpolateEnv(item, env, onError, [...path, i], onSubstituted));
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, item] of Object.entries(value))
      out[k] = interpolateEnv(item, env, onError, [...path, k], onSubstituted);
    return out;
  }
  return value;
}

function coerceScalar(text: string): string | number | boolean {
  if (text === "true") return true;
  if (text === "false") return false;
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  return text;
}
