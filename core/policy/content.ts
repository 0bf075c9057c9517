import { posix } from "node:path";
import type { ContentPolicy, ContentRule } from "../patterns/schema.ts";

/**
 * The content policy of `write_file`: a config file is code for the server that reads it. nginx
 * dlopens `load_module` during `nginx -t` as root; PostgreSQL loads `shared_preload_libraries` and
 * runs `archive_command`; Redis `loadmodule`; Odoo's `admin_passwd` is the key to every database.
 * A path rule ("anything under /etc/nginx") cannot see that, so each service lists the directives
 * a fix may never add, change or remove, and this module finds them in the parsed file.
 *
 * The checker runs twice. On the proposal alone (analyzer, executor before the run, `mcpmon policy
 * check`) the current file is unknown: a value or line rule (`user root`, `trust`) found in the new
 * content is refused, and a directive that may only stay as it is (`load_module`) makes the write
 * high risk, so no fix carrying one runs without an operator. On the host, against the current
 * file, a forbidden directive kept exactly as it is passes and one added, changed or removed is
 * refused, approved or not.
 */
export interface ConfigEntry {
  directive: string;
  value: string;
  /** The statement as written (whitespace folded), for reasons. */
  text: string;
}

/** Directives and their values, as the service's syntax reads them; comments are left out. */
export function parseConfig(syntax: ContentPolicy["syntax"], content: string): ConfigEntry[] {
  return syntax === "nginx" ? parseNginx(content) : parseLines(content, syntax === "ini");
}

function entry(directive: string, value: string): ConfigEntry {
  const v = value.replace(/\s+/g, " ").trim();
  return { directive: directive.toLowerCase(), value: v, text: v ? `${directive} ${v}` : directive };
}

/** nginx: statements end with `;`, `{` or `}`; `#` starts a comment outside quotes. */
function parseNginx(content: string): ConfigEntry[] {
  const out: ConfigEntry[] = [];
  let cur = "";
  let quote = "";
  const flush = () => {
    const words = cur.trim().split(/\s+/).filter(Boolean);
    if (words.length) out.push(entry(words[0]!, words.slice(1).join(" ")));
    cur = "";
  };
  for (let i = 0; i < content.length; i++) {
    const c = content[i]!;
    if (quote) {
      if (c === "\\") {
        cur += c + (content[i + 1] ?? "");
        i++;
        continue;
      }
      if (c === quote) quote = "";
      cur += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      cur += c;
    } else if (c === "#") {
      while (i < content.length && content[i] !== "\n") i++;
      cur += " ";
    } else if (c === ";" || c === "{" || c === "}") flush();
    else cur += c;
  }
  flush();
  return out;
}

/** `name = value`, `name value` (postgresql.conf, redis.conf) or ini `key = value` / `key: value`. */
function parseLines(content: string, ini: boolean): ConfigEntry[] {
  const out: ConfigEntry[] = [];
  for (const raw of content.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    if (ini && line.startsWith("[")) continue;
    const m = ini ? /^([^=:\s]+)\s*[=:]\s*(.*)$/.exec(line) : /^([^=\s]+)\s*(?:=\s*|\s+|$)(.*)$/.exec(line);
    if (!m) continue;
    // A trailing `# comment` after a value (postgresql.conf allows it; quotes keep a literal #).
    const value = ini ? m[2]! : m[2]!.replace(/\s+#(?=(?:[^']*'[^']*')*[^']*$).*$/, "");
    out.push(entry(m[1]!, value));
  }
  return out;
}

function globToRegex(glob: string): RegExp {
  return new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`);
}

function applies(rule: ContentRule, path: string): boolean {
  if (!rule.files) return true;
  const base = posix.basename(path);
  return rule.files.some((g) => globToRegex(g).test(base));
}

function nonCommentLines(content: string): string[] {
  return content
    .split(/\r?\n/)
    .map((l) => l.replace(/\s+/g, " ").trim())
    .filter((l) => l && !l.startsWith("#"));
}

/** Items of `a` that `b` lacks, counting repeats (a multiset difference). */
function missingFrom(a: string[], b: string[]): string[] {
  const left = new Map<string, number>();
  for (const x of b) left.set(x, (left.get(x) ?? 0) + 1);
  const out: string[] = [];
  for (const x of a) {
    const n = left.get(x) ?? 0;
    if (n > 0) left.set(x, n - 1);
    else out.push(x);
  }
  return out;
}

/**
 * Why writing `next` to `path` breaks the content policy: one reason per forbidden directive or
 * line, naming it. `current` is the file on the host (undefined when it is not known, null when the
 * file does not exist yet). A valueless rule (`load_module`) forbids adding, changing and removing;
 * a rule with a value (`user root`) or a line rule (`trust`) forbids adding only, since taking
 * such an entry away tightens the server.
 */
export function contentReasons(
  policy: ContentPolicy | undefined,
  path: string,
  next: string,
  current?: string | null,
): string[] {
  return contentFindings(policy, path, next, current).refused;
}

/**
 * `refused`: what may never be written. `onHost`: (current unknown) forbidden directives present
 * in the new content that the host check will compare with the current file.
 */
export function contentFindings(
  policy: ContentPolicy | undefined,
  path: string,
  next: string,
  current?: string | null,
): { refused: string[]; onHost: string[] } {
  const reasons: string[] = [];
  const onHost: string[] = [];
  if (!policy) return { refused: reasons, onHost };
  const nextEntries = parseConfig(policy.syntax, next);
  const curEntries = typeof current === "string" ? parseConfig(policy.syntax, current) : [];
  for (const rule of policy.forbidden) {
    if (!applies(rule, path)) continue;
    if ("line" in rule) {
      const re = new RegExp(rule.line, "i");
      const pick = (c: string) => nonCommentLines(c).filter((l) => re.test(l));
      const added = missingFrom(pick(next), typeof current === "string" ? pick(current) : []);
      if (added.length)
        reasons.push(`${path}: the line "${clip(added[0]!)}" may not be written by a fix (${rule.why})`);
      continue;
    }
    const valueRe = rule.value === undefined ? undefined : new RegExp(rule.value, "i");
    const name = rule.directive.toLowerCase();
    const pick = (list: ConfigEntry[]) =>
      list.filter((e) => e.directive === name && (!valueRe || valueRe.test(e.value))).map((e) => e.text);
    const inNext = pick(nextEntries);
    const inCur = pick(curEntries);
    const added = missingFrom(inNext, inCur);
    const removed = valueRe || current === undefined ? [] : missingFrom(inCur, inNext);
    const what = valueRe ? `"${rule.directive}" with a value like /${rule.value}/` : `"${rule.directive}"`;
    if (added.length && current === undefined && !valueRe)
      onHost.push(
        `${path}: directive ${what} ("${clip(added[0]!)}") may only be kept as the current file has it (${rule.why})`,
      );
    else if (added.length)
      reasons.push(
        `${path}: directive ${what} may not be ${current === undefined ? "written" : "added or changed"} by a fix ("${clip(added[0]!)}"; ${rule.why})`,
      );
    else if (removed.length)
      reasons.push(
        `${path}: directive ${what} may not be removed by a fix ("${clip(removed[0]!)}"; ${rule.why})`,
      );
  }
  return { refused: reasons, onHost };
}

function clip(s: string): string {
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}
