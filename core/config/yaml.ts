import { readFileSync } from "node:fs";
import * as v from "valibot";
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument, type YAMLError } from "yaml";
import { ConfigError, type ConfigProblem } from "../errors.ts";
import { interpolateEnv } from "./env.ts";

export interface ParseOptions {
  env?: Record<string, string | undefined>;
  interpolate?: boolean;
  /**
   * Looks at the parsed document before interpolation and schema: a problem returned here is the
   * only one reported (a central file given where a client file is needed would otherwise show as
   * a dozen "unknown key" lines that hide the real mistake).
   */
  inspect?: (data: unknown) => string | undefined;
}

/**
 * Parse a YAML file and validate it with a valibot schema, once, at start-up.
 * Every problem names the file, the line (where the YAML has one), the key path and what was
 * expected; all problems are reported together in one ConfigError.
 */
export function loadYamlFile<S extends v.GenericSchema>(
  file: string,
  schema: S,
  opts: ParseOptions = {},
): v.InferOutput<S> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (cause) {
    throw new ConfigError([{ file, path: "", message: `cannot read file: ${(cause as Error).message}` }]);
  }
  return parseYamlText(text, file, schema, opts);
}

export function parseYamlText<S extends v.GenericSchema>(
  text: string,
  file: string,
  schema: S,
  opts: ParseOptions = {},
): v.InferOutput<S> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    // One error per line: the parser's follow-on errors for the same mistake are noise.
    const problems = doc.errors.map((e) => ({
      file,
      line: yamlErrorLine(e, text, lineCounter),
      path: "",
      message: `invalid YAML: ${e.message.split("\n")[0]}`,
    }));
    throw new ConfigError(problems.filter((p, i) => problems.findIndex((q) => q.line === p.line) === i));
  }
  const problems: ConfigProblem[] = [];
  let data: unknown = doc.toJS() ?? {};
  const wrongKind = opts.inspect?.(data);
  if (wrongKind) throw new ConfigError([{ file, path: "", message: wrongKind }]);
  // Which values came from `${VAR}`, so a bad value names the variable the operator must fix.
  const substituted = new Map<string, string>();
  if (opts.interpolate !== false) {
    data = interpolateEnv(
      data,
      opts.env ?? process.env,
      (path, message) =>
        problems.push({ file, line: lineOf(doc.contents, path, lineCounter), path: path.join("."), message }),
      [],
      (path, raw) => substituted.set(path.join("."), raw),
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const result = v.safeParse(schema, data, { abortEarly: false });
  if (result.success) return result.output;
  for (const issue of result.issues) {
    const path = (issue.path ?? []).map((p) => p.key as string | number);
    const raw = substituted.get(path.join("."));
    problems.push({
      file,
      line: lineOf(doc.contents, path, lineCounter),
      path: path.join("."),
      message: describeIssue(issue) + (raw ? ` (from ${variablesOf(raw)})` : ""),
    });
  }
  throw new ConfigError(dedupe(problems));
}

/**
 * The line an operator should look at. The parser reports some errors at the token where it gave
 * up rather than where the mistake is: an unclosed `[` or quote at the end of the file (one past
 * the last line), a badly indented key at the start of the value above it.
 */
function yamlErrorLine(e: YAMLError, text: string, lc: LineCounter): number {
  // `a: 1` followed by an over-indented `  b: 2`: reported at `1`, the mistake is the next line.
  if (e.code === "MULTILINE_IMPLICIT_KEY" || e.code === "BLOCK_AS_IMPLICIT_KEY") {
    const line = lc.linePos(e.pos[0]).line;
    return line < lc.lineStarts.length ? line + 1 : line;
  }
  const end = text.trimEnd().length;
  if (e.pos[0] >= end && end > 0) return lc.linePos(end - 1).line;
  return e.linePos?.[0]?.line ?? lc.linePos(e.pos[0]).line;
}

/** `${MCP_API_PORT:-8080}` → `${MCP_API_PORT}` (every variable of the raw value). */
function variablesOf(raw: string): string {
  const names = [...raw.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => `\${${m[1]}}`);
  return names.length ? [...new Set(names)].join(", ") : raw;
}

/**
 * Valibot's issue in the words of the config files: `missing required key "client_id"`,
 * `unknown key "x"`, `expected one of "low", "medium", "high", got "urgent"`, or the schema's own
 * message plus what was found (`expected a positive integer, got "five"`).
 */
export function describeIssue(issue: v.BaseIssue<unknown>): string {
  const key = issue.path?.at(-1)?.key;
  const isObject = issue.type === "strict_object" || issue.type === "object" || issue.type === "loose_object";
  if (isObject && issue.input === undefined && issue.received === "undefined" && key !== undefined)
    return `missing required key "${String(key)}"`;
  if (issue.type === "strict_object" || (issue.kind === "schema" && /never/.test(issue.expected ?? "")))
    return `unknown key${key === undefined ? "" : ` "${String(key)}"`}`;
  const choices = literalChoices(issue);
  if (choices) return `expected one of ${choices.join(", ")}, got ${issue.received}`;
  let msg = issue.message;
  if (!/, got /.test(msg) && !/Invalid/.test(msg)) msg = `${msg}, got ${issue.received}`;
  return msg
    .replace(/^Invalid \w+: /, "")
    .replace(/^Expected /, "expected ")
    .replace(/ but received /, ", got ");
}

/**
 * `("low" | "medium" | "high")` of a picklist or variant → its quoted values; a value spelled in
 * both cases (log levels) is shown once, in lower case.
 */
function literalChoices(issue: v.BaseIssue<unknown>): string[] | undefined {
  if (issue.type !== "picklist" && issue.type !== "variant") return undefined;
  const values = [...(issue.expected ?? "").matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!);
  if (values.length === 0) return undefined;
  const lower = new Set(values.filter((x) => x === x.toLowerCase()));
  return [...new Set(values.filter((x) => x === x.toLowerCase() || !lower.has(x.toLowerCase())))].map(
    (x) => `"${x}"`,
  );
}

function dedupe(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const k = `${p.line}|${p.path}|${p.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** The 1-based line of `path` in a YAML text (or of its nearest existing parent); for checks done after loading. */
export function lineIn(text: string, path: Array<string | number>): number | undefined {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc });
  return lineOf(doc.contents, path, lc);
}

/** The 1-based line of the node at `path` (or of its nearest existing parent). */
function lineOf(root: unknown, path: Array<string | number>, lc: LineCounter): number | undefined {
  let node = root as Node | null | undefined;
  let best: number | undefined = node?.range ? lc.linePos(node.range[0]).line : undefined;
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((it) => isScalar(it.key) && String(it.key.value) === String(key));
      if (!pair) break;
      const keyNode = pair.key as Node;
      if (keyNode.range) best = lc.linePos(keyNode.range[0]).line;
      node = pair.value as Node | null;
    } else if (isSeq(node) && typeof key === "number") {
      node = node.items[key] as Node | undefined;
      if (node?.range) best = lc.linePos(node.range[0]).line;
    } else break;
  }
  return best;
}
