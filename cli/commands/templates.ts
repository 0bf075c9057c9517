import { runTemplatesCommand } from "../../analyzer/templates/cli.ts";
import { McpError } from "../../core/errors.ts";
import type { CliArgs } from "../args.ts";

/** `mcpmon templates FILE [--service S] [--format text|csv] [--patterns-dir DIR]` or `--loghub FILE` */
export async function templatesCommand(
  args: CliArgs,
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  const file = args.positionals[0];
  if (!file) throw new McpError("USAGE", "templates needs a FILE (see mcpmon templates --help)");
  const given = args.flags.format as string | undefined;
  const loghub = Boolean(args.flags.loghub);
  // --loghub always writes LogHub's CSV shape; a --format beside it would be silently ignored.
  if (loghub && given !== undefined)
    throw new McpError("USAGE", "--loghub writes LineId,EventId,EventTemplate CSV; leave out --format");
  const format = given ?? "text";
  if (format !== "text" && format !== "csv")
    throw new McpError("USAGE", `--format: expected one of "text", "csv", got "${format}"`);
  const service = args.flags.service as string | undefined;
  let stripHeader: ((line: string) => string) | undefined;
  if (service) {
    const { loadPatternsDir } = await import("../../core/patterns/load.ts");
    const { stripHeader: strip } = await import("../../core/patterns/header.ts");
    const patterns = loadPatternsDir(args.flags["patterns-dir"] as string | undefined, { withShipped: true });
    const sp = patterns.get(service);
    if (!sp)
      throw new McpError(
        "USAGE",
        `--service: no patterns file for "${service}" (known: ${[...patterns.keys()].join(", ")})`,
      );
    stripHeader = (line) => strip(sp, line).message;
  }
  return runTemplatesCommand(
    { file, ...(service ? { service } : {}), format, loghub, ...(stripHeader ? { stripHeader } : {}) },
    (s) => out(s.endsWith("\n") ? s.slice(0, -1) : s),
    err,
  );
}
