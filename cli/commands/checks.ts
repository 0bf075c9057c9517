import { accessSync, constants, existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { ClientConfig } from "../../core/config/client.ts";
import { type LoadedCentral, lineIn, loadClientConfig } from "../../core/config/index.ts";
import { ConfigError, type ConfigProblem } from "../../core/errors.ts";
import { overrideProblem } from "../../core/patterns/detect.ts";
import type { ServicePatterns } from "../../core/patterns/load.ts";
import { resolveFrom } from "./runtime.ts";

/**
 * Checks that need more than one file (a client's service_type against the patterns, a central
 * config's clients: and patterns_dir). The commands run them before starting anything, and
 * check-config runs the same ones, so "ok" means the start will not fail on them.
 */

type Patterns = Map<string, ServicePatterns>;

/** The line of `path` in `file`, for problems found after the schema check. */
function lineOf(file: string, path: Array<string | number>): number | undefined {
  try {
    return lineIn(readFileSync(file, "utf8"), path);
  } catch {
    return undefined;
  }
}

/**
 * A client config's service_type must have a patterns file, its detect.min_level must be one of that
 * service's levels, and a client_id may be used once.
 */
export function clientProblems(
  clients: Array<[file: string, config: ClientConfig]>,
  patterns: Patterns,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const seen = new Map<string, string>();
  for (const [file, c] of clients) {
    if (!patterns.has(c.service_type)) {
      problems.push({
        file,
        line: lineOf(file, ["service_type"]),
        path: "service_type",
        message: `no patterns file for service "${c.service_type}" (known: ${[...patterns.keys()].join(", ")})`,
      });
    }
    const sp = patterns.get(c.service_type);
    const level = sp ? overrideProblem(sp.spec.detect, c.service_type, c.detect) : null;
    if (level)
      problems.push({
        file,
        line: lineOf(file, ["detect", "min_level"]),
        path: "detect.min_level",
        message: level,
      });
    const first = seen.get(c.client_id);
    if (first !== undefined) {
      problems.push({
        file,
        line: lineOf(file, ["client_id"]),
        path: "client_id",
        message: `client_id "${c.client_id}" is already used by ${first}`,
      });
    } else seen.set(c.client_id, file);
  }
  return problems;
}

/** Load client configs and check them against the patterns; every problem of every file at once. */
export function loadClients(files: string[], patterns: Patterns, command: string): ClientConfig[] {
  const problems: ConfigProblem[] = [];
  const loaded: Array<[string, ClientConfig]> = [];
  for (const file of files) {
    try {
      loaded.push([file, loadClientConfig(file, process.env, command)]);
    } catch (e) {
      if (e instanceof ConfigError) problems.push(...e.problems);
      else throw e;
    }
  }
  problems.push(...clientProblems(loaded, patterns));
  if (problems.length > 0) throw new ConfigError(problems);
  return loaded.map(([, c]) => c);
}

/** The central config's patterns: `patterns_dir` (relative to the file) plus the shipped services. */
export async function centralPatterns(loaded: LoadedCentral): Promise<Patterns> {
  const { loadPatternsDir } = await import("../../core/patterns/load.ts");
  const dir = loaded.config.patterns_dir
    ? resolveFrom(dirname(resolve(loaded.file)), loaded.config.patterns_dir)
    : undefined;
  try {
    return loadPatternsDir(dir, { withShipped: true });
  } catch (e) {
    // A folder that cannot be read is the central file's mistake: say where patterns_dir is set.
    if (e instanceof ConfigError && dir !== undefined) {
      throw new ConfigError(
        e.problems.map((p) =>
          p.file === dir
            ? {
                file: loaded.file,
                line: lineOf(loaded.file, ["patterns_dir"]),
                path: "patterns_dir",
                message: existsSync(dir) ? `${p.message} (${dir})` : `no such folder: ${dir}`,
              }
            : p,
        ),
      );
    }
    throw e;
  }
}

/** Every `clients:` file of a central config exists (named at its line in the central file). */
export function missingClientFiles(loaded: LoadedCentral): ConfigProblem[] {
  return loaded.clientFiles.flatMap((f, i) =>
    existsSync(f)
      ? []
      : [
          {
            file: loaded.file,
            line: lineOf(loaded.file, ["clients", i]),
            path: `clients.${i}`,
            message: `no such file: ${f}`,
          },
        ],
  );
}

/**
 * A collector's state_dir is created (or found writable) before anything starts: otherwise the
 * collector fails later with a raw EACCES and no word of which file set the folder.
 */
export function ensureStateDir(dir: string, file: string | undefined): void {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === "EACCES" || code === "EPERM"
        ? "permission denied"
        : code === "ENOTDIR" || code === "EEXIST"
          ? "a part of the path is a file, not a folder"
          : code === "EROFS"
            ? "read-only file system"
            : (e as Error).message;
    // A ConfigError (exit 2) in the shape of every other config mistake: file:line key: problem.
    throw new ConfigError([
      file === undefined
        ? { file: "--data-dir", path: "", message: `"${dir}": ${why}` }
        : { file, line: lineOf(file, ["state_dir"]), path: "state_dir", message: `"${dir}": ${why}` },
    ]);
  }
}
