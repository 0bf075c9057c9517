import * as v from "valibot";
import { Severity } from "../schemas/common.ts";

/**
 * `detect:` of a patterns file: what happens to a record that no pattern matches. A monitoring
 * agent must not swallow a FATAL because nobody wrote a regex for it, so a record whose level is at
 * or above `min_level` ships as the service's `<service>-unmatched` event unless an `ignore` rule
 * names it as chatter. The analyzer groups those by template like any other event; no pattern
 * means no rule fix, so they go to Claude or to a person.
 */

const RegexSource = v.pipe(v.string(), v.minLength(1), v.description("JavaScript regular expression source"));
const Id = v.pipe(
  v.string(),
  v.regex(/^[a-z0-9][a-z0-9_.-]*$/, "expected an id like nginx-ignore-client-closed"),
);

export const DetectLevel = v.strictObject({
  level: v.pipe(
    v.string(),
    v.minLength(1),
    v.description("the level as the header writes it (error, FATAL, #)"),
  ),
  severity: v.pipe(Severity, v.description("severity of an unmatched record at this level")),
});

/** Chatter at a shipped level: matched against the message (or the record with `on: record`). */
export const IgnoreRule = v.strictObject({
  id: Id,
  regex: RegexSource,
  flags: v.optional(v.pipe(v.string(), v.regex(/^[imsu]*$/, "expected regex flags from i, m, s, u")), ""),
  on: v.optional(v.picklist(["message", "record"]), "message"),
  description: v.pipe(v.string(), v.description("why this is not a failure")),
  examples: v.pipe(
    v.array(v.string()),
    v.minLength(1, "every ignore rule needs at least one example copied from a real log"),
  ),
  /** Lines at a shipped level the rule must NOT ignore (failures that look alike). */
  counter_examples: v.optional(v.array(v.string()), []),
});
export type IgnoreRule = v.InferOutput<typeof IgnoreRule>;

/**
 * Records below the threshold that still report a failure (PostgreSQL's LOG level carries
 * "server process … was terminated by signal 9", "could not bind IPv4 address"): at `level`, a
 * message matching `regex` counts as `as` (default `min_level`).
 */
export const EscalateRule = v.strictObject({
  level: v.pipe(v.string(), v.minLength(1)),
  regex: RegexSource,
  as: v.optional(v.string()),
  description: v.string(),
});
export type EscalateRule = v.InferOutput<typeof EscalateRule>;

export const Detect = v.strictObject({
  /**
   * Where the level is read: a regex with a named group `level`, anchored at the record's start.
   * Default: the header regex (a record without a header then has no level and is not shipped).
   */
  level_regex: v.optional(RegexSource),
  levels: v.pipe(
    v.array(DetectLevel),
    v.minLength(1),
    v.description("every level the log writes, least severe first"),
  ),
  min_level: v.pipe(
    v.string(),
    v.minLength(1),
    v.description("unmatched records at this level or above ship (a client may override it)"),
  ),
  unmatched: v.optional(
    v.pipe(
      v.picklist(["ship", "drop"], 'expected "ship" or "drop"'),
      v.description("ship unmatched records at or above min_level, or drop them (a client may override it)"),
    ),
    "ship",
  ),
  escalate: v.optional(v.array(EscalateRule), []),
  ignore: v.optional(v.array(IgnoreRule), []),
});
export type Detect = v.InferOutput<typeof Detect>;
