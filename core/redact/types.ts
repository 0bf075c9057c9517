/**
 * What every redaction rule is: a gate (a cheap regex that must match wherever the rule can find
 * something), a finder that reports secret spans on the original text, and a table of examples
 * (input → what must come out) and counter-examples (inputs that must come out unchanged), which
 * the tests run. The engine (engine.ts) merges the spans of all rules and writes the text once.
 */
export const REDACTION_KINDS = [
  "password",
  "url-password",
  "authorization",
  "bearer",
  "session",
  "secret",
  "signature",
  "anthropic-key",
  "openai-key",
  "aws-access-key",
  "aws-secret",
  "azure-key",
  "github-token",
  "gitlab-token",
  "slack-token",
  "google-api-key",
  "google-oauth-token",
  "stripe-key",
  "sendgrid-key",
  "huggingface-token",
  "vault-token",
  "npm-token",
  "telegram-bot-token",
  "jwt",
  "private-key",
  "credit-card",
  "high-entropy",
] as const;
export type RedactKind = (typeof REDACTION_KINDS)[number];

/** Report one secret: `text.slice(start, end)` is replaced by `[REDACTED:kind]`. */
export type Report = (start: number, end: number, kind: RedactKind) => void;

export interface Rule {
  /** Named by `mcpmon redact --explain` and in test names. */
  readonly name: string;
  /**
   * Cheap pre-check (no `g` flag): must match wherever `find` can report; may match more. A plain
   * alternation of literals unless `shape` is set.
   */
  readonly gate: RegExp;
  /** The gate is a character-shape regex (digit runs, base64 runs), not a list of literals. */
  readonly shape?: boolean;
  /**
   * Rules that rarely fire share a group: the engine tests the union of the group's gates first
   * and skips all of them at once when it fails (default: a group of its own).
   */
  readonly group?: string;
  /** Report every secret span of `text`. Spans may overlap other rules' spans; the engine merges. */
  readonly find: (text: string, report: Report) => void;
  /** [input, the text redact() must return]: the rule must fire on each. */
  readonly examples: ReadonlyArray<readonly [string, string]>;
  /** Inputs redact() must return unchanged (the look-alikes this rule must not take). */
  readonly counterExamples: readonly string[];
}

export function redacted(kind: RedactKind): string {
  return `[REDACTED:${kind}]`;
}

// Values that are not secrets: earlier redactions (which makes redaction idempotent), masks,
// placeholders, template references, empty markers and literals.
const PLACEHOLDER =
  /^(?:\[REDACTED|\(redacted\)|\[FILTERED\]|\*+$|x{3,}$|-$|<[^<>\n]{0,64}>$|\$\{[^{}\n]{0,64}\}$|\{\{[^{}\n]{0,64}\}\}$|%\(?[a-z_]{0,20}\)?[sr]$|\?$|\$\d{1,3}$|\$[A-Z_][A-Z0-9_]{0,63}$|(?:null|none|nil|undefined|true|false|n\/a|empty|unset|redacted|hidden|filtered)$)/i;
/** True for a value that is no secret: `***`, `<hidden>`, `${VAR}`, `[REDACTED:…]`, `null`… */
export function isPlaceholder(value: string): boolean {
  return value.length === 0 || PLACEHOLDER.test(value);
}
