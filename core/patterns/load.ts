import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import { parseYamlText } from "../config/yaml.ts";
import { ConfigError, type ConfigProblem } from "../errors.ts";
import { type CompiledDetect, compileDetect } from "./detect.ts";
import { EMBEDDED_PATTERNS } from "./embedded.ts";
import { type ArgShape, type Pattern, PatternsFile } from "./schema.ts";

export { checkExamples, type ExampleProblem, referenceMatch } from "./check.ts";

/** A pattern with its compiled regex and the fields (named groups) a match yields. */
export interface CompiledPattern {
  pattern: Pattern;
  /** Position in the file: first match wins, in this order. */
  index: number;
  re: RegExp;
  /** The named groups of `re`, i.e. the fields a match yields (and `${name}` may use). */
  groups: string[];
}

/** How lines become records; see collector/multiline.ts. */
export interface MultilineRule {
  start?: RegExp;
  continue?: RegExp;
  maxLines: number;
  flushMs: number;
}

/** A checked, compiled `patterns/<service>.yml`: what the collector, analyzer and executor read. */
export interface ServicePatterns {
  service: string;
  /** Where it came from: a path, or `embedded:<service>.yml` for the copy inside the binary. */
  file: string;
  spec: PatternsFile;
  header?: RegExp;
  multiline?: MultilineRule;
  patterns: CompiledPattern[];
  /** The catch-all for records no pattern matches (`detect:`); none when the file has no section. */
  detect?: CompiledDetect;
}

/** Load and check one patterns file. Throws ConfigError naming file, line, key path and pattern id. */
export function loadPatternsFile(file: string): ServicePatterns {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (cause) {
    throw new ConfigError([{ file, path: "", message: `cannot read file: ${(cause as Error).message}` }]);
  }
  return parsePatternsText(text, file);
}

/**
 * Parse the text of a patterns file. `file` is used in error messages and for the rule that the
 * file name (without `.yml`) equals `service`, so that `patterns/<service>.yml` can be found by name.
 */
export function parsePatternsText(text: string, file: string): ServicePatterns {
  const spec = parseYamlText(text, file, PatternsFile, { interpolate: false });
  const problems: ConfigProblem[] = [];
  // Lines are only looked up when something is wrong, so the document is parsed again lazily.
  let lines: ((path: Array<string | number>) => number | undefined) | undefined;
  const problem = (path: Array<string | number>, message: string) => {
    lines ??= lineFinder(text);
    problems.push({ file, line: lines(path), path: path.join("."), message });
  };

  const stem = stemOf(file);
  if (stem !== spec.service)
    problem(["service"], `must equal the file name "${stem}", got "${spec.service}"`);

  const compile = (path: Array<string | number>, source: string, flags = "", id?: string) => {
    try {
      return new RegExp(source, flags);
    } catch (err) {
      const label = id === undefined ? "" : `(${id}) `;
      problem(path, `${label}invalid regular expression: ${(err as Error).message}`);
      return undefined;
    }
  };

  const header = spec.header ? compile(["header", "regex"], spec.header.regex) : undefined;
  let multiline: MultilineRule | undefined;
  if (spec.multiline) {
    const m = spec.multiline;
    multiline = { maxLines: m.max_lines, flushMs: m.flush_ms };
    if (m.start) multiline.start = compile(["multiline", "start"], m.start);
    if (m.continue) multiline.continue = compile(["multiline", "continue"], m.continue);
  }

  const detect = spec.detect ? compileDetect(spec.detect, header, compile, problem) : undefined;

  // Regex shapes in the policy are compiled by the policy checker; a broken one must fail here, at
  // load time, rather than refuse every fix later.
  spec.policy.rules.forEach((rule, r) => {
    if (rule.type === "write_file")
      for (const [i, m] of [...(rule.modes ?? []), ...(rule.create_mode ? [rule.create_mode] : [])].entries())
        if (!/^0?[0-7]{3,4}$/.test(m) || Number.parseInt(m, 8) & 0o7000)
          problem(
            ["policy", "rules", r, i < (rule.modes?.length ?? 0) ? "modes" : "create_mode"],
            `(${rule.id}) mode "${m}" must be an octal mode without setuid, setgid or sticky bits`,
          );
    if (rule.type !== "run") return;
    const reason = unsafeRunRule(rule.program, rule.args, rule.rest, rule.target !== undefined);
    if (reason) problem(["policy", "rules", r, "program"], `(${rule.id}) ${reason}`);
    const shapes: Array<[Array<string | number>, ArgShape]> = rule.args.map((s, a) => [["args", a], s]);
    if (rule.rest) shapes.push([["rest"], rule.rest]);
    for (const [at, shape] of shapes) {
      if ("regex" in shape) compile(["policy", "rules", r, ...at, "regex"], shape.regex, "", rule.id);
    }
  });

  const patterns: CompiledPattern[] = [];
  const seen = new Map<string, number>();
  spec.patterns.forEach((pattern, index) => {
    const at = ["patterns", index];
    const first = seen.get(pattern.id);
    if (first !== undefined)
      problem([...at, "id"], `duplicate pattern id "${pattern.id}" (first at patterns.${first})`);
    else seen.set(pattern.id, index);
    const re = compile([...at, "regex"], pattern.regex, pattern.flags, pattern.id);
    if (!re) return;
    const groups = namedGroups(pattern.regex);
    for (const name of placeholders(pattern.remediation)) {
      if (!groups.includes(name)) {
        problem([...at, "remediation"], `(${pattern.id}) \${${name}} is not a named group of the regex`);
      }
    }
    patterns.push({ pattern, index, re, groups });
  });

  if (problems.length > 0) throw new ConfigError(problems);
  const sp: ServicePatterns = { service: spec.service, file, spec, patterns };
  if (header) sp.header = header;
  if (multiline) sp.multiline = multiline;
  if (detect) sp.detect = detect;
  return sp;
}

/**
 * Every service in `dir` (default: `findPatternsDir()`), by service name. With `null` (no folder), the
 * four shipped files embedded in the binary are used, so `mcpmon collect` works from an empty folder.
 * With `withShipped`, shipped services the folder lacks are added too (a folder holding only
 * `myapp.yml` then adds a service instead of replacing the four). All files are checked and all
 * problems are reported in one ConfigError.
 */
export function loadPatternsDir(
  dir: string | null = findPatternsDir() ?? null,
  opts: { withShipped?: boolean } = {},
): Map<string, ServicePatterns> {
  const out = new Map<string, ServicePatterns>();
  const problems: ConfigProblem[] = [];
  const shipped = Object.entries(EMBEDDED_PATTERNS).map(
    ([name, text]) => [`embedded:${name}`, () => text] as [string, () => string],
  );
  const sources: Array<[file: string, read: () => string]> =
    dir === null ? shipped : listYaml(dir).map((f) => [f, () => readFileSync(f, "utf8")]);
  if (dir !== null && opts.withShipped) {
    const present = new Set(sources.map(([f]) => stemOf(f)));
    sources.push(...shipped.filter(([f]) => !present.has(stemOf(f))));
  }
  for (const [file, read] of sources) {
    try {
      const sp = parsePatternsText(read(), file);
      out.set(sp.service, sp);
    } catch (err) {
      if (err instanceof ConfigError) problems.push(...err.problems);
      else problems.push({ file, path: "", message: `cannot read file: ${(err as Error).message}` });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out;
}

/**
 * The patterns folder, looked for in order: `$MCP_PATTERNS_DIR`, `./patterns`, `patterns/` next to
 * the executable, and the repository's folder relative to this source file. Undefined when none
 * holds a `.yml` file (the caller then uses the embedded copies).
 */
export function findPatternsDir(env: Record<string, string | undefined> = process.env): string | undefined {
  // An explicit setting is honoured even if wrong, so a typo fails loudly instead of silently
  // falling back to the shipped files.
  if (env.MCP_PATTERNS_DIR) return resolve(env.MCP_PATTERNS_DIR);
  const candidates = [
    resolve("patterns"),
    join(dirname(process.execPath), "patterns"),
    // In a compiled binary import.meta.dir is inside the virtual /$bunfs, which never exists on disk.
    resolve(import.meta.dir, "../../patterns"),
  ];
  return candidates.find((d) => listYaml(d, true).length > 0);
}

function listYaml(dir: string, quiet = false): string[] {
  try {
    if (quiet && (!existsSync(dir) || !statSync(dir).isDirectory())) return [];
    return readdirSync(dir)
      .filter((f) => /\.ya?ml$/.test(f))
      .sort()
      .map((f) => join(dir, f));
  } catch (cause) {
    if (quiet) return [];
    throw new ConfigError([
      { file: dir, path: "", message: `cannot read folder: ${(cause as Error).message}` },
    ]);
  }
}

/** `patterns/nginx.yml` and `embedded:nginx.yml` → `nginx`. */
function stemOf(file: string): string {
  return basename(file.replace(/^embedded:/, "")).replace(/\.ya?ml$/, "");
}

/** Names of `(?<name>…)` groups in a regex source, in order. */
export function namedGroups(source: string): string[] {
  return [...source.matchAll(/(?<!\\)\(\?<([A-Za-z_$][\w$]*)>/g)].map((m) => m[1]!);
}

/** `${name}` placeholders anywhere in a remediation's actions, checks and rollback. */
/** The `${name}` placeholders anywhere in a value (a remediation's args, paths, contents). */
export function placeholders(value: unknown): Set<string> {
  const found = new Set<string>();
  const walk = (x: unknown): void => {
    if (typeof x === "string") for (const m of x.matchAll(/\$\{([A-Za-z_]\w*)\}/g)) found.add(m[1]!);
    else if (Array.isArray(x)) x.forEach(walk);
    else if (x && typeof x === "object") Object.values(x).forEach(walk);
  };
  walk(value);
  return found;
}

/** Field names a pattern's remediation fills (`${path}`): what makes one fix differ from another. */
export function remediationFields(pattern: Pattern | undefined): string[] {
  return pattern?.remediation ? [...placeholders(pattern.remediation)].sort() : [];
}

/** A lookup from key path to 1-based line, for error messages. */
function lineFinder(text: string): (path: Array<string | number>) => number | undefined {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc });
  return (path) => {
    let node = doc.contents as Node | null | undefined;
    let best = node?.range ? lc.linePos(node.range[0]).line : undefined;
    for (const key of path) {
      if (isMap(node)) {
        const pair = node.items.find((it) => isScalar(it.key) && String(it.key.value) === String(key));
        if (!pair) break;
        node = pair.value as Node | null;
      } else if (isSeq(node) && typeof key === "number") {
        node = node.items[key] as Node | undefined;
      } else break;
      if (node?.range) best = lc.linePos(node.range[0]).line;
    }
    return best;
  };
}

/**
 * Programs that change a file by its path follow a symlink swapped in at the last moment, so a
 * policy may not allow them: files are written with `write_file`, and chmod/chown run through the
 * executor's descriptor-based helper, which accepts exactly `<mode|owner> <path>`.
 */
const PATH_MUTATORS = new Set([
  "cp",
  "mv",
  "ln",
  "rm",
  "tee",
  "truncate",
  "sed",
  "install",
  "dd",
  "touch",
  "mkdir",
  "rmdir",
  "chgrp",
  "setfacl",
  "chattr",
]);

export function unsafeRunRule(
  program: string,
  args: readonly ArgShape[],
  rest: ArgShape | undefined,
  hasTarget = false,
): string | null {
  const name = program.split("/").pop() ?? program;
  if (PATH_MUTATORS.has(name)) {
    return `"${program}" changes files by path and could follow a symlink swapped in at run time: allow write_file (or chmod/chown) instead`;
  }
  if ((name === "chmod" || name === "chown") !== hasTarget)
    return hasTarget
      ? `"target" applies only to chmod and chown rules`
      : `${name} rules need a "target" ({ kind: file|dir, owners: [...] }): the host helper checks the object's kind and owner before changing it`;
  if (name === "chmod") {
    const modes =
      args[0] && "enum" in args[0] ? args[0].enum : args[0] && "literal" in args[0] ? [args[0].literal] : [];
    const special = modes.find((m) => !/^0?[0-7]{3,4}$/.test(m) || Number.parseInt(m, 8) & 0o7000);
    if (special !== undefined || (args[0] && "regex" in args[0]))
      return `chmod modes must be listed (enum or literal) octal modes without setuid, setgid or sticky bits${special === undefined ? "" : `, got "${special}"`}`;
  }
  if (name === "chmod" || name === "chown") {
    const value = args[0];
    const ok =
      args.length === 2 &&
      rest === undefined &&
      value !== undefined &&
      ("enum" in value || "regex" in value || "literal" in value) &&
      "path" in args[1]!;
    if (!ok)
      return `${name} rules must be exactly [<enum|regex|literal ${name === "chmod" ? "mode" : "owner"}>, <path>] (no options, no rest): the executor runs them through a race-free helper`;
  }
  return null;
}
