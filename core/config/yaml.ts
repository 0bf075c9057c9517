import { readFileSync } from "node:fs";
import * as v from "valibot";
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import { ConfigError, type ConfigProblem } from "../errors.ts";
import { interpolateEnv } from "./env.ts";

/**
 * Parse a YAML file and validate it with a valibot schema, once, at start-up.
 * Every problem names the file, the line (where the YAML has one), the key path and what was
 * expected; all problems are reported together in one ConfigError.
 */
export function loadYamlFile<S extends v.GenericSchema>(
  file: string,
  schema: S,
  opts: { env?: Record<string, string | undefined>; interpolate?: boolean } = {},
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
  opts: { env?: Record<string, string | undefined>; interpolate?: boolean } = {},
): v.InferOutput<S> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => ({
        file,
        line: e.linePos?.[0]?.line ?? lineCounter.linePos(e.pos[0]).line,
        path: "",
        message: `invalid YAML: ${e.message.split("\n")[0]}`,
      })),
    );
  }
  const problems: ConfigProblem[] = [];
  let data: unknown = doc.toJS() ?? {};
  if (opts.interpolate !== false) {
    data = interpolateEnv(data, opts.env ?? process.env, (path, message) =>
      problems.push({ file, line: lineOf(doc.contents, path, lineCounter), path: path.join("."), message }),
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const result = v.safeParse(schema, data, { abortEarly: false });
  if (result.success) return result.output;
  for (const issue of result.issues) {
    const path = (issue.path ?? []).map((p) => p.key as string | number);
    problems.push({
      file,
      line: lineOf(doc.contents, path, lineCounter),
      path: path.join("."),
      message: describeIssue(issue),
    });
  }
  throw new ConfigError(dedupe(problems));
}

/** Valibot's message plus what was found, e.g. `expected a positive integer, got "five"`. */
function describeIssue(issue: v.BaseIssue<unknown>): string {
  let msg = issue.message;
  if (issue.type === "strict_object" || (issue.kind === "schema" && /never/.test(issue.expected ?? ""))) {
    const key = issue.path?.at(-1)?.key;
    return `unknown key${key === undefined ? "" : ` "${String(key)}"`}`;
  }
  if (!/, got /.test(msg) && !/Invalid/.test(msg)) msg = `${msg}, got ${issue.received}`;
  return msg
    .replace(/^Invalid \w+: /, "")
    .replace(/^Expected /, "expected ")
    .replace(/ but received /, ", got ");
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
