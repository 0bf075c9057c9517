import pino, { type Logger } from "pino";
import { redact } from "./redact/index.ts";

export type { Logger };

/**
 * Structured JSON logs on stderr (pino); one readable line per entry when stderr is a terminal.
 * `MCP_DEBUG=true` turns on debug logging whatever the config says.
 * pino's pretty transport runs in a worker thread that a compiled binary cannot load, so the
 * terminal format is a small synchronous formatter instead. Every line is redacted before it is
 * written (a message may quote a URL, a command or a reply that holds a secret); pino's `redact`
 * paths only cover fields whose names are known in advance.
 */
export function createLogger(opts: { level?: string; name?: string; pretty?: boolean } = {}): Logger {
  const debug = process.env.MCP_DEBUG === "true" || process.env.MCP_DEBUG === "1";
  const level = debug ? "debug" : (opts.level ?? process.env.MCP_LOG_LEVEL ?? "info").toLowerCase();
  const pretty = opts.pretty ?? Boolean(process.stderr.isTTY);
  const sink = pretty
    ? { write: (line: string) => process.stderr.write(prettyLine(line)) }
    : pino.destination(2);
  const destination = { write: (line: string) => sink.write(redact(line).text) };
  return pino(
    {
      level,
      name: opts.name ?? "mcpmon",
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ["token", "*.token", "apiKey", "*.apiKey", "authorization", "*.authorization"],
        censor: "[REDACTED]",
      },
    },
    destination,
  );
}

const LEVELS: Record<number, string> = {
  10: "TRACE",
  20: "DEBUG",
  30: "INFO",
  40: "WARN",
  50: "ERROR",
  60: "FATAL",
};

function prettyLine(line: string): string {
  try {
    const { level, time, msg, pid: _pid, name, hostname: _h, ...rest } = JSON.parse(line);
    const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : "";
    return `${String(time).slice(11, 23)} ${(LEVELS[level] ?? level).padEnd(5)} ${name}: ${msg}${extra}\n`;
  } catch {
    return line;
  }
}

/** A logger that drops everything (library users and tests that do not care). */
export const silentLogger: Logger = pino({ level: "silent" });
