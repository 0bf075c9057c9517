import type { Severity } from "../schemas/common.ts";
import type { Detect, IgnoreRule, Pattern } from "./schema.ts";

/** A compiled `detect:` section; see detect-schema.ts for what each part means. */
export interface CompiledDetect {
  levelRe: RegExp;
  /** The service's header: ignore and escalate rules see the message without it, as patterns do. */
  header: RegExp | undefined;
  /** Level as written → position, least severe first. */
  rank: Map<string, number>;
  severity: Severity[];
  minRank: number;
  unmatched: "ship" | "drop";
  escalate: Array<{ rank: number; re: RegExp; as: number }>;
  ignore: Array<{ rule: IgnoreRule; re: RegExp }>;
  /**
   * The level regex restricted to the levels that can ship by default (at or above the threshold,
   * or named by an escalate rule), without captures: most traffic is info or notice, and one failed
   * `test()` settles it (about half the cost of reading the level). Only used without an override.
   */
  shipRe: RegExp;
}

/** A client's own threshold and choice (`detect:` of a client config). */
export interface DetectOverride {
  min_level?: string | undefined;
  unmatched?: "ship" | "drop" | undefined;
}

/**
 * Why a client's `detect.min_level` cannot apply to its service (not one of its levels), or null.
 * Checked by `mcpmon check-config` and at collector start, so a typo never silently ships nothing.
 */
export function overrideProblem(
  detect: { levels: Array<{ level: string }> } | undefined,
  service: string,
  override: DetectOverride,
): string | null {
  if (override.min_level === undefined) return null;
  const levels = detect?.levels.map((l) => l.level);
  if (!levels) return `service "${service}" declares no levels (its patterns file has no detect: section)`;
  if (levels.includes(override.min_level)) return null;
  return `expected one of ${levels.join(", ")} (the levels of ${service}), got "${override.min_level}"`;
}

/** What the catch-all makes of a record no pattern matched. */
export type Verdict =
  | { kind: "below" }
  | { kind: "ignored"; rule: string }
  | { kind: "ship"; level: string; severity: Severity; fields: Record<string, string> };

type Compile = (
  path: Array<string | number>,
  source: string,
  flags?: string,
  id?: string,
) => RegExp | undefined;
type Problem = (path: Array<string | number>, message: string) => void;

/** Compile and cross-check a `detect:` section (levels named by min_level and escalate exist). */
export function compileDetect(
  d: Detect,
  header: RegExp | undefined,
  compile: Compile,
  problem: Problem,
): CompiledDetect | undefined {
  const rank = new Map<string, number>();
  d.levels.forEach((l, i) => {
    if (rank.has(l.level)) problem(["detect", "levels", i, "level"], `level "${l.level}" is listed twice`);
    else rank.set(l.level, i);
  });
  const known = [...rank.keys()].join(", ");
  const minRank = rank.get(d.min_level);
  if (minRank === undefined)
    problem(["detect", "min_level"], `expected one of ${known}, got "${d.min_level}"`);
  const levelRe = d.level_regex ? compile(["detect", "level_regex"], d.level_regex) : header;
  if (!levelRe) problem(["detect"], "needs level_regex or a header regex with a named group `level`");
  else if (!/\(\?<level>/.test(levelRe.source))
    problem(
      ["detect", d.level_regex ? "level_regex" : "levels"],
      "the level regex has no named group `level`",
    );
  const escalate: CompiledDetect["escalate"] = [];
  d.escalate.forEach((e, i) => {
    const at = ["detect", "escalate", i];
    const r = rank.get(e.level);
    const as = rank.get(e.as ?? d.min_level);
    if (r === undefined) problem([...at, "level"], `expected one of ${known}, got "${e.level}"`);
    if (as === undefined) problem([...at, "as"], `expected one of ${known}, got "${e.as}"`);
    const re = compile([...at, "regex"], e.regex);
    if (re && r !== undefined && as !== undefined) escalate.push({ rank: r, re, as });
  });
  const ignore: CompiledDetect["ignore"] = [];
  d.ignore.forEach((rule, i) => {
    const re = compile(["detect", "ignore", i, "regex"], rule.regex, rule.flags, rule.id);
    if (re) ignore.push({ rule, re });
  });
  if (!levelRe || minRank === undefined) return undefined;
  const hints = d.levels
    .filter((_l, i) => i >= minRank || escalate.some((e) => e.rank === i))
    .map((l) => l.level.replace(/[.*+?^${}()|[\]\\/#-]/g, "\\$&"));
  // A lookahead at the start of the `level` group: the level must be one of these, whole.
  const only = `(?<level>(?=(?:${hints.join("|")})(?![A-Za-z0-9]))`;
  const shipRe = new RegExp(levelRe.source.replace("(?<level>", only), levelRe.flags.replace(/[gy]/g, ""));
  return {
    shipRe,
    levelRe,
    header,
    rank,
    severity: d.levels.map((l) => l.severity),
    minRank,
    unmatched: d.unmatched,
    escalate,
    ignore,
  };
}

/**
 * Decide about a record that matched no pattern: below the threshold (or `unmatched: drop`),
 * ignored as chatter, or shipped with the severity of its level and the header's fields.
 *
 * unmatchedVerdict(pg, '2026-12-04 20:50:01.123 UTC [42] FATAL:  the database system is starting up')
 *   → { kind: "ship", level: "FATAL", severity: "error", fields: { time, pid, level } }
 */
export function unmatchedVerdict(d: CompiledDetect, record: string, override: DetectOverride = {}): Verdict {
  if ((override.unmatched ?? d.unmatched) === "drop") return { kind: "below" };
  if (override.min_level === undefined && !d.shipRe.test(record)) return { kind: "below" };
  d.levelRe.lastIndex = 0;
  const m = d.levelRe.exec(record);
  if (m === null || m.index !== 0) return { kind: "below" };
  const level = m.groups?.level;
  let r = level === undefined ? undefined : d.rank.get(level);
  if (r === undefined) return { kind: "below" };
  const min = override.min_level === undefined ? d.minRank : (d.rank.get(override.min_level) ?? d.minRank);
  // Most records are below the threshold: they cost the level regex and nothing more.
  let message: string | undefined;
  if (r < min) {
    for (const e of d.escalate) {
      if (e.rank !== r) continue;
      message ??= messageOf(d, record, m[0].length);
      e.re.lastIndex = 0;
      if (e.re.test(message)) {
        r = e.as;
        break;
      }
    }
    if (r < min) return { kind: "below" };
  }
  message ??= messageOf(d, record, m[0].length);
  for (const { rule, re } of d.ignore) {
    re.lastIndex = 0;
    if (re.test(rule.on === "record" ? record : message)) return { kind: "ignored", rule: rule.id };
  }
  const fields: Record<string, string> = {};
  if (m.groups) for (const k in m.groups) if (m.groups[k] !== undefined) fields[k] = m.groups[k]!;
  return { kind: "ship", level: level!, severity: d.severity[r]!, fields };
}

/** The record without its header (as patterns see it), else without what the level regex took. */
function messageOf(d: CompiledDetect, record: string, levelEnd: number): string {
  if (d.header && d.header !== d.levelRe) {
    d.header.lastIndex = 0;
    const h = d.header.exec(record);
    if (h?.index === 0) return record.slice(h[0].length);
  }
  return record.slice(levelEnd);
}

/**
 * The pattern an unmatched record ships under, one per severity. It is in no patterns file, so the
 * analyzer finds no regex to re-run and fills no remediation: Claude or a person looks.
 */
export function unmatchedPattern(service: string, severity: Severity): Pattern {
  return {
    id: `${service}-unmatched`,
    regex: "^(?!)",
    flags: "",
    on: "message",
    severity,
    category: "unmatched",
    description: `A ${service} record at or above its detect.min_level that no pattern matched.`,
    examples: [],
    counter_examples: [],
  };
}
