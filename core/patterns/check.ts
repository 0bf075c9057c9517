import type { ConfigProblem } from "../errors.ts";
import { unmatchedVerdict } from "./detect.ts";
import { stripHeader } from "./header.ts";
import type { CompiledPattern, ServicePatterns } from "./load.ts";

/**
 * One example or counter-example of a patterns file that does not behave as the file claims.
 * A ConfigProblem (file, key path, message) so `mcpmon check-config` prints it like any other.
 */
export interface ExampleProblem extends ConfigProblem {
  service: string;
  pattern: string;
  kind:
    | "example-unmatched"
    | "example-shadowed"
    | "counter-example-matched"
    | "ignore-example-not-ignored"
    | "ignore-counter-example-ignored";
  /** The example line itself. */
  text: string;
}

/**
 * The plain, obviously-correct meaning of a patterns file: strip the header from the first line,
 * try each pattern in file order, first match wins. collector/match.ts is the fast version of this
 * and its tests check both agree.
 */
export function referenceMatch(
  sp: ServicePatterns,
  record: string,
): { cp: CompiledPattern; fields: Record<string, string>; message: string } | null {
  const message = stripHeader(sp, record).message;
  for (const cp of sp.patterns) {
    const fields = matchPattern(cp, record, message);
    if (fields) return { cp, fields, message };
  }
  return null;
}

/**
 * One pattern against one record (`message` is the record without its header): the named groups
 * it extracts, or null when it does not match. Shared by every place that matches by the book.
 */
export function matchPattern(
  cp: CompiledPattern,
  record: string,
  message: string,
): Record<string, string> | null {
  cp.re.lastIndex = 0;
  const m = cp.re.exec(cp.pattern.on === "record" ? record : message);
  if (!m) return null;
  const fields: Record<string, string> = {};
  for (const [k, val] of Object.entries(m.groups ?? {})) if (val !== undefined) fields[k] = val;
  return fields;
}

/**
 * Check that every example is matched by its own pattern (and not by an earlier one, since the
 * first match wins) and that no counter-example matches any pattern. Run by the test suite over
 * the shipped files and by `mcpmon check-config` over an operator's files.
 */
export function checkExamples(sp: ServicePatterns): ExampleProblem[] {
  const problems: ExampleProblem[] = [];
  const add = (
    cp: CompiledPattern,
    key: string,
    j: number,
    kind: ExampleProblem["kind"],
    message: string,
  ) => {
    const text = (key === "examples" ? cp.pattern.examples : cp.pattern.counter_examples)[j]!;
    const path = `patterns.${cp.index}.${key}.${j}`;
    const short = text.length > 120 ? `${text.slice(0, 117)}...` : text;
    problems.push({
      file: sp.file,
      path,
      service: sp.service,
      pattern: cp.pattern.id,
      kind,
      text,
      message: `(${cp.pattern.id}) ${message}: ${short}`,
    });
  };
  for (const cp of sp.patterns) {
    cp.pattern.examples.forEach((line, j) => {
      const hit = referenceMatch(sp, line);
      if (!hit) add(cp, "examples", j, "example-unmatched", "example matches no pattern");
      else if (hit.cp !== cp)
        add(cp, "examples", j, "example-shadowed", `example is matched first by ${hit.cp.pattern.id}`);
    });
    cp.pattern.counter_examples.forEach((line, j) => {
      const hit = referenceMatch(sp, line);
      if (hit)
        add(
          cp,
          "counter_examples",
          j,
          "counter-example-matched",
          `counter-example is matched by ${hit.cp.pattern.id}`,
        );
    });
  }
  problems.push(...checkIgnoreExamples(sp));
  return problems;
}

/**
 * An ignore rule's examples must be ignored (with the lowest threshold a client may set, so the rule
 * is checked even for chatter below the default one) and must match no pattern (a pattern would win
 * and the rule would never be reached); its counter-examples must not be ignored.
 */
function checkIgnoreExamples(sp: ServicePatterns): ExampleProblem[] {
  const d = sp.detect;
  const spec = sp.spec.detect;
  if (!d || !spec) return [];
  const lowest = { min_level: spec.levels[0]!.level, unmatched: "ship" as const };
  const out: ExampleProblem[] = [];
  spec.ignore.forEach((rule, i) => {
    const add = (key: string, j: number, text: string, kind: ExampleProblem["kind"], message: string) =>
      out.push({
        file: sp.file,
        path: `detect.ignore.${i}.${key}.${j}`,
        service: sp.service,
        pattern: rule.id,
        kind,
        text,
        message: `(${rule.id}) ${message}: ${text.length > 120 ? `${text.slice(0, 117)}...` : text}`,
      });
    rule.examples.forEach((line, j) => {
      const hit = referenceMatch(sp, line);
      const v = unmatchedVerdict(d, line, lowest);
      if (hit) add("examples", j, line, "example-shadowed", `example is matched by ${hit.cp.pattern.id}`);
      else if (v.kind !== "ignored" || v.rule !== rule.id)
        add(
          "examples",
          j,
          line,
          "ignore-example-not-ignored",
          `example is not ignored by this rule (${v.kind})`,
        );
    });
    rule.counter_examples.forEach((line, j) => {
      const v = unmatchedVerdict(d, line, lowest);
      if (v.kind === "ignored" && v.rule === rule.id)
        add("counter_examples", j, line, "ignore-counter-example-ignored", "counter-example is ignored");
    });
  });
  return out;
}
