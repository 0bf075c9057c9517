import * as v from "valibot";

export const Severity = v.picklist(["critical", "error", "warning", "info"]);
export type Severity = v.InferOutput<typeof Severity>;
export const SEVERITY_ORDER: Record<Severity, number> = { critical: 3, error: 2, warning: 1, info: 0 };

export const IsoTime = v.pipe(v.string(), v.isoTimestamp());
export const Id = v.pipe(v.string(), v.minLength(1), v.maxLength(200));
/** Service names are file names in `patterns/`: lowercase, digits, dash, underscore. */
export const ServiceName = v.pipe(
  v.string(),
  v.regex(/^[a-z][a-z0-9_-]{0,62}$/, "expected a service name like nginx or my-app"),
);
export const Fields = v.record(v.string(), v.string());
