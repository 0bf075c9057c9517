import type { Pattern } from "../core/patterns/schema.ts";
import { SEVERITY_ORDER } from "../core/schemas/common.ts";
import type { Match } from "./match.ts";

/** A record's match, and the text its event carries as its message. */
export interface Chosen {
  m: Match;
  /** The message of the event: what the analyzer matches the claimed pattern against again. */
  text: string;
  /** Continuation lines kept beside the message: they would have changed what the first line matched. */
  continuation?: string;
  /** The record is a cut line shipped for a person to look at (CUT_PATTERN). */
  cut?: boolean;
}

/**
 * The pattern of an over-long line that matched nothing on its head although its tail mentions
 * what some pattern looks for: it is shipped cut and flagged, without fields (no fix can come from
 * text put together from two ends of a line), so that a person sees it. Not in any patterns file:
 * the analyzer finds no such pattern and fills no remediation.
 */
export const CUT_PATTERN: Pattern = {
  id: "collector-cut-line",
  regex: "^(?!)",
  flags: "",
  on: "message",
  severity: "warning",
  category: "collector",
  description:
    "A line longer than max_line_bytes: its head matched no pattern, and its end mentions an error.",
  examples: [],
  counter_examples: [],
};

/** Between the head and the tail of a cut line in a CUT_PATTERN event's message. */
export const CUT_MARK = "\n[… cut …]\n";

/**
 * Decide what a record is. The whole record's match stands unless the first line alone matches a
 * pattern whose fields (or remediation) the whole record's match does not keep: continuation lines
 * may refine a match (a traceback's exception names the module) but never take away what the first
 * line says (junk after an nginx line made it lose its path and its fix). Then the first line is
 * the message and the rest rides along as `continuation`.
 *
 * `tails` are the ends of the record's cut lines: when nothing matched, a tail that mentions a
 * pattern's literal makes the record a CUT_PATTERN event instead of nothing.
 */
export function chooseMatch(
  match: (service: string, text: string) => Match | null,
  mentions: (service: string, text: string) => boolean,
  service: string,
  r: { text: string; first: string; lines: number },
  tails: readonly string[] = [],
): Chosen | null {
  const m = match(service, r.text);
  if (r.lines > 1 && r.text.length > r.first.length) {
    const m1 = match(service, r.first);
    // The severity catch-all on the first line never outranks a pattern the whole record met.
    if (m1 && !(m && (keeps(m, m1) || isCatchAll(m1)))) {
      return { m: m1, text: r.first, continuation: r.text.slice(r.first.length + 1) };
    }
  }
  if (m && !isCatchAll(m)) return { m, text: r.text };
  // Nothing but (at most) the catch-all: a cut line whose end mentions what a pattern looks for is
  // shipped with that end, so a person sees the error, at the catch-all's severity if higher.
  for (const tail of tails) {
    if (!mentions(service, tail)) continue;
    const text = r.text + CUT_MARK + tail;
    const pattern =
      m && SEVERITY_ORDER[m.pattern.severity] > SEVERITY_ORDER[CUT_PATTERN.severity]
        ? { ...CUT_PATTERN, severity: m.pattern.severity }
        : CUT_PATTERN;
    return { m: { pattern, fields: {}, message: text }, text, cut: true };
  }
  return m ? { m, text: r.text } : null;
}

/** A match of the service's severity catch-all (`<service>-unmatched`), not of one of its patterns. */
function isCatchAll(m: Match): boolean {
  return m.pattern.category === "unmatched";
}

/** `m` keeps every field `first` extracted, with the same value, and a remediation if it had one. */
function keeps(m: Match, first: Match): boolean {
  if (first.pattern.remediation && !m.pattern.remediation) return false;
  for (const k in first.fields) if (m.fields[k] !== first.fields[k]) return false;
  return true;
}
