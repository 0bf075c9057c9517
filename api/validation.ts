import type * as v from "valibot";

/** One problem of a request, as answers list them: `{"path":"body[0].extra","message":"unknown key \"extra\""}`. */
export interface Problem {
  path: string;
  message: string;
}

type Issue = v.BaseIssue<unknown>;
type AnySchema = v.BaseSchema<unknown, unknown, Issue> & {
  type: string;
  options?: AnySchema[];
};

const MAX_PROBLEMS = 20;
const MAX_MESSAGE = 300;

/**
 * The problems of an Elysia validation error (`type` is body, query, params or headers), from the
 * valibot schema run again over the value. A union (one error or a batch) reports the branch the
 * value's shape picked, not "Expected (Object | Array) but received Object": the object branch for
 * an object, the array branch for an array.
 */
export function validationProblems(error: unknown): Problem[] {
  const e = error as { type?: string; value?: unknown; validator?: unknown };
  const where = typeof e.type === "string" ? e.type : "body";
  try {
    const schema = valibotSchema(e.validator);
    if (!schema) return [{ path: where, message: "invalid request" }];
    const issues = bestIssues(schema, e.value);
    if (issues.length === 0) return [{ path: where, message: "invalid request" }];
    return issues.slice(0, MAX_PROBLEMS).map((i) => problemOf(where, i));
  } catch {
    return [{ path: where, message: "invalid request" }];
  }
}

function valibotSchema(validator: unknown): AnySchema | null {
  const val = validator as { schema?: unknown } | null | undefined;
  const s = (val && "~standard" in val ? val : val?.schema) as AnySchema | undefined;
  return s && (s as { kind?: string }).kind === "schema" && "~run" in s ? s : null;
}

function run(schema: AnySchema, value: unknown): Issue[] {
  return (schema["~run"]({ value }, { abortEarly: false }).issues ?? []) as Issue[];
}

/** Issues of the schema, and for a union those of the branch whose own type the value has. */
function bestIssues(schema: AnySchema, value: unknown): Issue[] {
  const all = run(schema, value);
  if (schema.type !== "union" || !schema.options) return all;
  let best: Issue[] | null = null;
  for (const option of schema.options) {
    const issues = run(option, value);
    if (issues.length === 0) return all;
    // A branch that refused the value's type at the root is not the branch the caller meant.
    if (issues.some((i) => !i.path?.length && i.kind === "schema" && i.type === option.type)) continue;
    if (!best || issues.length < best.length) best = issues;
  }
  return best ?? all;
}

function problemOf(where: string, issue: Issue): Problem {
  const path = issue.path ?? [];
  const last = path[path.length - 1] as { origin?: string; key?: unknown } | undefined;
  let message = issue.message;
  if (last?.origin === "key" && issue.expected === "never") message = `unknown key ${quote(last.key)}`;
  else if (last?.origin === "key" && issue.input === undefined) message = `missing key ${quote(last.key)}`;
  else if (issue.type === "union" && !path.length) {
    message = `expected ${issue.expected ?? "another type"}, got ${kindOf(issue.input)}`;
  }
  if (message.length > MAX_MESSAGE) message = `${message.slice(0, MAX_MESSAGE - 1)}…`;
  return {
    path: formatPath(
      where,
      path.map((p) => (p as { key?: unknown }).key),
    ),
    message,
  };
}

/** `query.limit`, `body[0].source.offset`, `body["odd key"]`. */
export function formatPath(where: string, keys: unknown[]): string {
  let out = where;
  for (const k of keys) {
    if (typeof k === "number") out += `[${k}]`;
    else if (typeof k === "string" && /^[A-Za-z_$][\w$]*$/.test(k)) out += `.${k}`;
    else out += `[${quote(k)}]`;
  }
  return out;
}

function quote(key: unknown): string {
  const s = typeof key === "string" ? key : String(key);
  return JSON.stringify(s.length > 100 ? `${s.slice(0, 100)}…` : s);
}

function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}
