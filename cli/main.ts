#!/usr/bin/env bun
/**
 * `mcpmon`: the single entry point. Each subcommand is loaded on demand so `collect` on a host
 * never loads the API or the Claude client. Exit codes: 0 fine, 1 runtime failure, 2 usage or
 * configuration error. Every error line starts with `mcpmon: `.
 */
import { ConfigError, errorMessage, isMcpError } from "../core/errors.ts";
import { type CliArgs, parseCli } from "./args.ts";
import { COMMAND_HELP, HELP } from "./help.ts";

const out = (line: string) => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`${line}\n`);

async function dispatch(args: CliArgs): Promise<number> {
  // Help is answered before anything is loaded or started, whatever else the line says.
  if (args.help) {
    out(COMMAND_HELP[args.command] ?? HELP);
    return 0;
  }
  switch (args.command) {
    case "":
      err(HELP);
      return 2;
    case "help":
      out(HELP);
      return 0;
    case "version": {
      const { versionText } = await import("./commands/version.ts");
      out(versionText());
      return 0;
    }
    case "check-config": {
      const { checkConfigCommand } = await import("./commands/check-config.ts");
      return checkConfigCommand([...args.configs, ...args.positionals], out, err);
    }
    case "templates": {
      const { templatesCommand } = await import("./commands/templates.ts");
      return templatesCommand(args, out, err);
    }
    case "policy": {
      const { policyCommand } = await import("./commands/policy.ts");
      return policyCommand(args, out, err);
    }
    case "redact": {
      const { redactCommand } = await import("./commands/redact.ts");
      return redactCommand(args, out, err);
    }
    case "collect": {
      const { collectCommand } = await import("./commands/collect.ts");
      return collectCommand(args, out, err);
    }
    case "mcp": {
      const { mcpCommand } = await import("./commands/mcp.ts");
      return mcpCommand(args, out, err);
    }
    case "incidents":
    case "incident":
    case "fixes":
    case "approve":
    case "reject":
    case "ignore":
    case "status":
    case "queues": {
      const { operatorCommand } = await import("./commands/operator.ts");
      return operatorCommand(args, out, err);
    }
    case "analyze":
    case "execute":
    case "serve":
    case "all": {
      const { runServerCommand } = await import("./commands/server.ts");
      return runServerCommand(args, out, err);
    }
    default:
      // parseCli refuses unknown commands; this is a command listed there but not wired here.
      err(`mcpmon: command "${args.command}" is not implemented`);
      return 2;
  }
}

/** Reports what a command threw and returns the exit code. */
function reportError(e: unknown, write: (line: string) => void): number {
  if (e instanceof ConfigError) {
    for (const line of e.message.split("\n")) write(`mcpmon: ${line}`);
    return 2;
  }
  // Other CONFIG_INVALID errors are found only when something opens (a port in use): runtime, 1.
  if (isMcpError(e, "USAGE") || isMcpError(e, "PATTERN_INVALID")) {
    write(`mcpmon: ${e.message}`);
    return 2;
  }
  write(`mcpmon: ${errorMessage(e)}`);
  if (process.env.MCP_DEBUG === "true" && e instanceof Error && e.stack) write(e.stack);
  return 1;
}

async function main(): Promise<number> {
  let args: CliArgs;
  try {
    args = parseCli(process.argv.slice(2));
  } catch (e) {
    err(`mcpmon: ${errorMessage(e)}`);
    return 2;
  }
  try {
    return await dispatch(args);
  } catch (e) {
    return reportError(e, err);
  }
}

const code = await main();
// Long-running commands resolve only when they have shut down; exit explicitly so no stray
// handle keeps the process alive.
process.exit(code);
