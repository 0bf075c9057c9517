import { parseArgs } from "node:util";
import { McpError } from "../core/errors.ts";

/** Parsed command line: the subcommand, its positionals and the common flags. */
export interface CliArgs {
  command: string;
  positionals: string[];
  configs: string[];
  port?: number;
  dataDir?: string;
  flags: Record<string, string | boolean | string[] | undefined>;
}

export function parseCli(argv: string[]): CliArgs {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: "string", short: "c", multiple: true },
      port: { type: "string", short: "p" },
      "data-dir": { type: "string" },
      service: { type: "string", short: "s" },
      format: { type: "string" },
      loghub: { type: "boolean" },
      action: { type: "string" },
      "patterns-dir": { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
      version: { type: "boolean", short: "v" },
    },
  });
  let port: number | undefined;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new McpError("USAGE", `--port: expected a TCP port (1-65535), got "${values.port}"`);
    }
  }
  const [command = values.version ? "version" : "help", ...rest] = positionals;
  return {
    command: values.help && positionals.length === 0 ? "help" : command,
    positionals: rest,
    configs: values.config ?? [],
    port,
    dataDir: values["data-dir"],
    flags: values as CliArgs["flags"],
  };
}
