import { existsSync, readFileSync } from "node:fs";
import { parse } from "yaml";
import { detectKind, loadCentralConfig, loadClientConfig } from "../../core/config/index.ts";
import { ConfigError, type ConfigProblem, formatProblem, isMcpError } from "../../core/errors.ts";
import { centralPatterns, clientProblems, loadClients, missingClientFiles } from "./checks.ts";

type Out = (line: string) => void;

/**
 * `mcpmon check-config FILE...`: each file is judged by its keys (central, client or patterns)
 * and checked against that schema, then against what it refers to (so "ok" means the command
 * that reads it will start): a central config's clients: files and patterns_dir, a client
 * config's service_type. Every problem names file, line, key path and what was expected.
 * Returns the exit code: 0 when all files are valid, 2 otherwise.
 */
export async function checkConfigCommand(files: string[], out: Out, err: Out): Promise<number> {
  if (files.length === 0) {
    err("mcpmon: check-config needs a FILE (see mcpmon check-config --help)");
    return 2;
  }
  let failed = 0;
  for (const file of files) {
    const problems = await checkFile(file);
    if (problems.length === 0) out(`ok      ${file}`);
    else {
      failed++;
      for (const p of problems) err(formatProblem(p));
    }
  }
  if (failed > 0) err(`mcpmon: ${failed} of ${files.length} file(s) invalid`);
  return failed > 0 ? 2 : 0;
}

async function checkFile(file: string): Promise<ConfigProblem[]> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    return [{ file, path: "", message: `cannot read file: ${(e as Error).message}` }];
  }
  let kind: ReturnType<typeof detectKind>;
  try {
    kind = detectKind(parse(text));
  } catch {
    kind = "central"; // the loader below reports the YAML error with its line
  }
  try {
    if (kind === "patterns") return await checkPatterns(file);
    if (kind === "client") return await checkClient(file);
    return await checkCentral(file);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    if (isMcpError(e, "CONFIG_INVALID")) return [{ file, path: "", message: e.message }];
    throw e;
  }
}

/** The schema, then what `mcpmon all` reads because of it: clients: files and patterns_dir. */
async function checkCentral(file: string): Promise<ConfigProblem[]> {
  const loaded = loadCentralConfig(file, process.env, "check-config");
  const problems: ConfigProblem[] = missingClientFiles(loaded);
  let patterns: Awaited<ReturnType<typeof centralPatterns>> | undefined;
  try {
    patterns = await centralPatterns(loaded);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    problems.push(...e.problems);
  }
  if (patterns) {
    try {
      loadClients(loaded.clientFiles.filter(existsSync), patterns, "mcpmon all (clients:)");
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      problems.push(...e.problems);
    }
  }
  return problems;
}

/** The schema, then the service_type against the patterns collect would load. */
async function checkClient(file: string): Promise<ConfigProblem[]> {
  const config = loadClientConfig(file, process.env, "check-config");
  const { loadPatternsDir } = await import("../../core/patterns/load.ts");
  return clientProblems([[file, config]], loadPatternsDir(undefined, { withShipped: true }));
}

/** Patterns files: schema, regexes, and that every example matches and no counter-example does. */
async function checkPatterns(file: string): Promise<ConfigProblem[]> {
  const { loadPatternsFile, checkExamples } = await import("../../core/patterns/load.ts");
  const sp = loadPatternsFile(file);
  return checkExamples(sp);
}
