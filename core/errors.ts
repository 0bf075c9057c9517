/**
 * The small set of error classes every component throws. Each carries a fixed string `code`
 * (stable, for tests and metrics), a `retryable` flag (should the caller try again later?) and
 * the underlying `cause`. Never inspect `(err as any).code`: use `isMcpError(err, "CODE")`.
 */
export type ErrorCode =
  | "CONFIG_INVALID"
  | "PATTERN_INVALID"
  | "USAGE"
  | "BROKER_UNAVAILABLE"
  | "BROKER_NOT_DURABLE"
  | "BROKER_CONFLICT"
  | "BROKER_LOCKED"
  | "VALIDATION"
  | "POLICY_REFUSED"
  | "TRANSPORT"
  | "HOST_KEY_MISMATCH"
  | "AUTH_FAILED"
  | "TIMEOUT"
  | "RATE_LIMITED"
  | "MODEL_INVALID"
  | "NOT_FOUND"
  | "INTERNAL";

export class McpError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  /** Extra machine-readable facts (file, key path, host…) for logs and API answers. */
  readonly details: Record<string, unknown>;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { retryable?: boolean; cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "McpError";
    this.code = code;
    this.retryable = opts.retryable ?? false;
    this.details = opts.details ?? {};
  }
}

/** One problem found in a config or patterns file: where, what key, what was expected. */
export interface ConfigProblem {
  file: string;
  line?: number;
  path: string;
  message: string;
}

/** Every problem of one or more files at once, so an operator fixes them in one pass. */
export class ConfigError extends McpError {
  readonly problems: ConfigProblem[];
  constructor(problems: ConfigProblem[]) {
    super("CONFIG_INVALID", problems.map(formatProblem).join("\n"), { details: { problems } });
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/** `configs/mcp-config.yml:9 token_limits.batch_size: expected a positive integer, got "five"` */
export function formatProblem(p: ConfigProblem): string {
  const where = p.line === undefined ? p.file : `${p.file}:${p.line}`;
  return p.path ? `${where} ${p.path}: ${p.message}` : `${where}: ${p.message}`;
}

export function isMcpError(err: unknown, code?: ErrorCode): err is McpError {
  return err instanceof McpError && (code === undefined || err.code === code);
}

/** The message of anything thrown, for logs and records. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return typeof err === "string" ? err : JSON.stringify(err);
}
