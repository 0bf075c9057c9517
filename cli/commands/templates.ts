import { runTemplatesCommand } from "../../analyzer/templates/cli.ts";
import { McpError } from "../../core/errors.ts";
import type { CliArgs } from "../args.ts";

/** `mcpmon templates FILE [--service S] [--format text|csv] [--loghub]` */
export async function templatesCommand(
  args: CliArgs,
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  const file = args.positionals[0];
  if (!file)
    throw new McpError("USAGE", "usage: mcpmon templates FILE [--service S] [--format text|csv] [--loghub]");
  const format = (args.flags.format as string | undefined) ?? "text";
  if (format !== "text" && format !== "csv")
    throw new McpError("USAGE", `--format: expected text or csv, got "${format}"`);
  const service = args.flags.service as string | undefined;
  let stripHeader: ((line: string) => string) | undefined;
  if (service) {
    const { loadPatternsDir } = await import("../../core/patterns/load.ts");
    const { stripHeader: strip } = await import("../../collector/header.ts");
    const sp = loadPatternsDir(args.flags["patterns-dir"] as string | undefined).get(service);
    if (!sp) throw new McpError("USAGE", `--service: no patterns file for "${service}"`);
    stripHeader = (line) => strip(sp, line).message;
  }
  let printed = "";
  const code = await runTemplatesCommand(
    { file, service, format, loghub: Boolean(args.flags.loghub), stripHeader },
    (s) => {
      printed = s;
      out(s.endsWith("\n") ? s.slice(0, -1) : s);
    },
  );
  if (code !== 0 && printed) err("");
  return code;
}
