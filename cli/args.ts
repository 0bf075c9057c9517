import { McpError } from "../core/errors.ts";
import { didYouMean } from "./suggest.ts";

/** Parsed command line: the subcommand, its positionals and its options. */
export interface CliArgs {
  command: string;
  positionals: string[];
  configs: string[];
  port?: number;
  dataDir?: string;
  /** `--help` (or `mcpmon help CMD`): print the command's help and run nothing. */
  help: boolean;
  flags: Record<string, string | boolean | string[] | undefined>;
}

interface OptionSpec {
  short?: string;
  type: "string" | "boolean";
}

/** Every option any command takes; which command takes which is in COMMANDS. */
export const OPTIONS: Record<string, OptionSpec> = {
  config: { short: "c", type: "string" },
  port: { short: "p", type: "string" },
  "data-dir": { type: "string" },
  service: { short: "s", type: "string" },
  format: { type: "string" },
  loghub: { type: "boolean" },
  action: { type: "string" },
  explain: { type: "boolean" },
  "patterns-dir": { type: "string" },
  api: { type: "string" },
  json: { type: "boolean" },
  status: { type: "string" },
  note: { type: "string" },
  reason: { type: "string" },
  help: { short: "h", type: "boolean" },
  version: { short: "v", type: "boolean" },
};

interface CommandSpec {
  options: string[];
  /** Options that may be given more than once. */
  repeatable?: string[];
  /** How many positionals the command takes at most (undefined: any number). */
  maxPositionals?: number;
}

/**
 * Options are parsed per command, so a flag meant for another command (`collect --loghub`) is
 * refused instead of silently ignored.
 */
export const COMMANDS: Record<string, CommandSpec> = {
  all: { options: ["config", "port", "data-dir"], maxPositionals: 0 },
  serve: { options: ["config", "port", "data-dir"], maxPositionals: 0 },
  analyze: { options: ["config", "data-dir"], maxPositionals: 0 },
  execute: { options: ["config", "data-dir"], maxPositionals: 0 },
  collect: { options: ["config", "data-dir"], repeatable: ["config"], maxPositionals: 0 },
  "check-config": { options: ["config"], repeatable: ["config"] },
  templates: { options: ["service", "format", "loghub", "patterns-dir"], maxPositionals: 1 },
  policy: { options: ["service", "action", "config", "patterns-dir"], maxPositionals: 1 },
  redact: { options: ["service", "explain", "patterns-dir"], maxPositionals: 1 },
  mcp: { options: ["config", "api", "data-dir"], maxPositionals: 0 },
  // The operator CLI: each talks to the REST API of a running server (cli/commands/operator.ts).
  incidents: { options: ["api", "status", "service", "json"], maxPositionals: 0 },
  incident: { options: ["api", "json"], maxPositionals: 1 },
  fixes: { options: ["api", "status", "service", "json"], maxPositionals: 0 },
  approve: { options: ["api", "note", "json"], maxPositionals: 1 },
  reject: { options: ["api", "reason", "json"], maxPositionals: 1 },
  ignore: { options: ["api", "reason", "json"], maxPositionals: 1 },
  status: { options: ["api", "json"], maxPositionals: 0 },
  queues: { options: ["api", "json"], maxPositionals: 0 },
  version: { options: [], maxPositionals: 0 },
  help: { options: [], maxPositionals: 1 },
};

const usage = (message: string) => new McpError("USAGE", message);
const SHORT = new Map([
  ...Object.entries(OPTIONS).flatMap(([name, o]) => (o.short ? [[o.short, name] as [string, string]] : [])),
  // `-V` as GNU tools spell it, beside `-v`.
  ["V", "version"],
]);

interface Token {
  name: string;
  /** How the user spelled it (`-c`, `--confg`), for messages. */
  raw: string;
  value?: string;
}

/**
 * `mcpmon [--help|--version] <command> [options] [args]`. Throws a USAGE McpError (exit 2) for an
 * unknown command or option, an option another command takes, a missing value, a repeated option.
 * With `--help` anywhere, only the command name is checked: the command's help is printed.
 */
export function parseCli(argv: string[]): CliArgs {
  const tokens: Token[] = [];
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    const m = /^--([^=]+)(?:=(.*))?$/s.exec(arg) ?? /^-([^-])(.*)$/s.exec(arg);
    if (!m) {
      positionals.push(arg);
      continue;
    }
    const long = arg.startsWith("--");
    const name = long ? m[1]! : (SHORT.get(m[1]!) ?? m[1]!);
    const inline = long ? m[2] : m[2] || undefined;
    const token: Token = { name, raw: long ? `--${m[1]}` : `-${m[1]}` };
    if (inline !== undefined) token.value = inline;
    else if (OPTIONS[name]?.type === "string") {
      const next = argv[i + 1];
      // A value never starts with a dash: `--config --port 1` is a missing value, not a file "--port".
      if (next !== undefined && !(next.startsWith("-") && next !== "-")) {
        token.value = next;
        i++;
      }
    }
    tokens.push(token);
  }

  const help = tokens.some((t) => t.name === "help");
  let command = positionals.shift() ?? "";
  if (command === "") {
    // `mcpmon --help` / `-h` is the overview (what `mcpmon help` prints), not the help of `help`.
    if (help) return { command: "help", positionals: [], configs: [], help: false, flags: {} };
    if (tokens.some((t) => t.name === "version")) command = "version";
  }
  if (command === "help" && positionals.length > 0) {
    // `mcpmon help collect` is `mcpmon collect --help`.
    command = positionals.shift()!;
    checkCommand(command);
    return { command, positionals, configs: [], help: true, flags: {} };
  }
  if (command === "") return { command, positionals, configs: [], help: false, flags: {} };
  const spec = checkCommand(command);
  if (help) return { command, positionals, configs: [], help: true, flags: {} };

  const flags: CliArgs["flags"] = {};
  for (const t of tokens) {
    const option = OPTIONS[t.name];
    if (!option || (t.name === "version" && command !== "version")) {
      const known = [...spec.options, "help"];
      throw usage(`unknown option ${t.raw}${didYouMean(t.name, known, (s) => `--${s}`)}`);
    }
    if (!spec.options.includes(t.name) && t.name !== "version")
      throw usage(`option --${t.name} does not apply to ${command} (see mcpmon ${command} --help)`);
    if (option.type === "boolean") {
      if (t.value !== undefined) throw usage(`option --${t.name} takes no value`);
      flags[t.name] = true;
      continue;
    }
    if (t.value === undefined || t.value === "") throw usage(`option --${t.name} needs a value`);
    if (spec.repeatable?.includes(t.name)) {
      flags[t.name] = [...((flags[t.name] as string[] | undefined) ?? []), t.value];
    } else if (flags[t.name] !== undefined) {
      throw usage(`option --${t.name} is given twice; ${command} takes one`);
    } else flags[t.name] = t.value;
  }
  if (spec.maxPositionals !== undefined && positionals.length > spec.maxPositionals) {
    const extra = positionals[spec.maxPositionals]!;
    throw usage(
      spec.maxPositionals === 0
        ? `${command} takes no arguments, got "${extra}"`
        : `unexpected argument "${extra}" (see mcpmon ${command} --help)`,
    );
  }

  let port: number | undefined;
  if (flags.port !== undefined) {
    port = Number(flags.port);
    if (!/^\d+$/.test(String(flags.port)) || port < 1 || port > 65535) {
      throw usage(`--port: expected a TCP port (1-65535), got "${flags.port}"`);
    }
  }
  const config = flags.config;
  return {
    command,
    positionals,
    configs: config === undefined ? [] : Array.isArray(config) ? config : [String(config)],
    ...(port === undefined ? {} : { port }),
    ...(flags["data-dir"] === undefined ? {} : { dataDir: String(flags["data-dir"]) }),
    help: false,
    flags,
  };
}

function checkCommand(command: string): CommandSpec {
  const spec = COMMANDS[command];
  if (!spec) throw usage(`unknown command "${command}"${didYouMean(command, Object.keys(COMMANDS))}`);
  return spec;
}
