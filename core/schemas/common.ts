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
/** Named groups of a pattern: identifiers, so a key can never carry markup or a prompt. */
export const Fields = v.record(
  v.pipe(v.string(), v.regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, "expected a field name like path or client")),
  v.pipe(v.string(), v.maxLength(65536)),
);
/** Pattern ids and categories as patterns files spell them (`nginx-permission-denied`, `permissions`). */
export const Slug = v.pipe(
  v.string(),
  v.regex(/^[a-z0-9][a-z0-9_.-]{0,199}$/, "expected lowercase letters, digits, dot, dash or underscore"),
);
