import { type DetectOverride, unmatchedPattern, unmatchedVerdict } from "../core/patterns/detect.ts";
import { stripHeader } from "../core/patterns/header.ts";
import type { ServicePatterns } from "../core/patterns/load.ts";
import type { Pattern } from "../core/patterns/schema.ts";
import type { Severity } from "../core/schemas/common.ts";
import type { Match } from "./match.ts";

type MatchFn = (service: string, record: string) => Match | null;

/**
 * A client's match function with its service's severity catch-all behind it: a record no pattern
 * matches, at or above the threshold (the client's `detect.min_level`, else the file's) and not
 * named by an `ignore` rule, becomes a `<service>-unmatched` match whose severity comes from its
 * level and whose fields are the header's. A service without `detect:` is left as it was.
 *
 * The patterns are tried first, so a known failure keeps its own id, fields and fix; the level is
 * only read for the records that matched nothing (one anchored header regex each).
 */
export function withUnmatched(match: MatchFn, sp: ServicePatterns, override: DetectOverride = {}): MatchFn {
  const d = sp.detect;
  if (!d || (override.unmatched ?? d.unmatched) === "drop") return match;
  const bySeverity = new Map<Severity, Pattern>();
  return (service, record) => {
    const m = match(service, record);
    if (m !== null || service !== sp.service) return m;
    const v = unmatchedVerdict(d, record, override);
    if (v.kind !== "ship") return null;
    let pattern = bySeverity.get(v.severity);
    if (!pattern) {
      pattern = unmatchedPattern(sp.service, v.severity);
      bySeverity.set(v.severity, pattern);
    }
    const s = stripHeader(sp, record);
    const out: Match = { pattern, fields: v.fields, message: s.message, level: v.level };
    if (s.time !== undefined) out.time = s.time;
    if (s.pid !== undefined) out.pid = s.pid;
    return out;
  };
}
