import * as v from "valibot";

/**
 * Typed fix actions. There is no free shell, ever: a `run` is a program plus an argument list,
 * each argument quoted for the remote shell by the executor; the policy in
 * `patterns/<service>.yml` decides which programs and argument shapes are allowed.
 */
export const Risk = v.picklist(["low", "medium", "high"]);
export type Risk = v.InferOutput<typeof Risk>;
export const RISK_ORDER: Record<Risk, number> = { low: 0, medium: 1, high: 2 };
export function maxRisk(...risks: Risk[]): Risk {
  return risks.reduce<Risk>((a, b) => (RISK_ORDER[b] > RISK_ORDER[a] ? b : a), "low");
}

export const RunAction = v.strictObject({
  type: v.literal("run"),
  program: v.pipe(v.string(), v.minLength(1), v.maxLength(256)),
  args: v.optional(v.array(v.pipe(v.string(), v.maxLength(4096))), []),
  timeout_s: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(3600))),
});
export type RunAction = v.InferOutput<typeof RunAction>;

export const WriteFileAction = v.strictObject({
  type: v.literal("write_file"),
  path: v.pipe(v.string(), v.minLength(1), v.maxLength(4096)),
  content: v.pipe(v.string(), v.maxLength(1_048_576)),
  /** Octal file mode such as "0644"; the existing mode is kept when absent. */
  mode: v.optional(v.pipe(v.string(), v.regex(/^0?[0-7]{3,4}$/, "expected an octal mode like 0644"))),
});
export type WriteFileAction = v.InferOutput<typeof WriteFileAction>;

export const ServiceAction = v.strictObject({
  type: v.literal("service"),
  op: v.picklist(["validate", "reload", "restart"]),
});
export type ServiceAction = v.InferOutput<typeof ServiceAction>;

export const Action = v.variant("type", [RunAction, WriteFileAction, ServiceAction]);
export type Action = v.InferOutput<typeof Action>;

/**
 * A check is an action whose exit code is compared with `expect_exit` (default 0): used for
 * preconditions ("does the failing condition still hold?") and verify steps. Checks must pass the
 * policy too. `http` checks fetch a URL on the fix's target host and compare the status.
 */
export const HttpCheck = v.strictObject({
  type: v.literal("http"),
  url: v.pipe(v.string(), v.url()),
  expect_status: v.optional(v.pipe(v.number(), v.integer(), v.minValue(100), v.maxValue(599)), 200),
});
export const Check = v.union([
  v.strictObject({ ...RunAction.entries, expect_exit: v.optional(v.pipe(v.number(), v.integer()), 0) }),
  v.strictObject({ ...ServiceAction.entries, expect_exit: v.optional(v.pipe(v.number(), v.integer()), 0) }),
  HttpCheck,
]);
export type Check = v.InferOutput<typeof Check>;
