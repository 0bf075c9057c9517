import * as v from "valibot";
import { McpError } from "../errors.ts";

/**
 * Stream entries are flat string maps. Every message is stored as one `data` field holding JSON
 * (readable in `redis-cli XRANGE`), plus a `type` field naming the schema.
 */
export type StreamFields = Record<string, string>;

export function encode(type: string, message: unknown): StreamFields {
  return { type, data: JSON.stringify(message) };
}

/** Decode and validate an entry; throws a non-retryable VALIDATION error that says what is wrong. */
export function decode<S extends v.GenericSchema>(schema: S, fields: StreamFields): v.InferOutput<S> {
  const raw = fields.data;
  if (raw === undefined) throw new McpError("VALIDATION", "stream entry has no data field");
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (cause) {
    throw new McpError("VALIDATION", "stream entry data is not JSON", { cause });
  }
  const result = v.safeParse(schema, parsed);
  if (!result.success) {
    throw new McpError("VALIDATION", `invalid stream entry: ${summarizeIssues(result.issues)}`);
  }
  return result.output;
}

/** `fields.count: expected a positive integer; service: …` */
export function summarizeIssues(issues: readonly v.BaseIssue<unknown>[]): string {
  return issues
    .slice(0, 10)
    .map((i) => {
      const path = v.getDotPath(i);
      return path ? `${path}: ${i.message}` : i.message;
    })
    .join("; ");
}
