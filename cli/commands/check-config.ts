import { readFileSync } from "node:fs";
import type * as v from "valibot";
import { parse } from "yaml";
import { CentralConfig, ClientConfig, detectKind, parseYamlText } from "../../core/config/index.ts";
import { type ConfigProblem, formatProblem, isMcpError } from "../../core/errors.ts";

type Out = (line: string) => void;

/**
 * `mcpmon check-config FILE...`: each file is judged by its keys (central, client or patterns)
 * and checked against that schema; every problem names file, line, key path and what was expected.
 * Returns the exit code: 0 when all files are valid, 2 otherwise.
 */
export async function checkConfigCommand(files: string[], out: Out, err: Out): Promise<number> {
  if (files.length === 0) {
    err("usage: mcpmon check-config FILE...");
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
  if (failed > 0) err(`${failed} of ${files.length} file(s) invalid`);
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
    kind = "central"; // parseYamlText below reports the YAML error with its line
  }
  try {
    if (kind === "patterns") return await checkPatterns(file);
    const schema: v.GenericSchema = kind === "client" ? ClientConfig : CentralConfig;
    // Unset variables are expected while checking; only the file's own text is judged.
    parseYamlText(text, file, schema);
    return [];
  } catch (e) {
    if (isMcpError(e, "CONFIG_INVALID")) return (e.details.problems as ConfigProblem[]) ?? [];
    throw e;
  }
}

/** Patterns files: schema, regexes, and that every example matches and no counter-example does. */
async function checkPatterns(file: string): Promise<ConfigProblem[]> {
  const { loadPatternsFile, checkExamples } = await import("../../core/patterns/load.ts");
  const sp = loadPatternsFile(file);
  return checkExamples(sp);
}
