/** Secret redaction, applied wherever text enters mcpmon (collector, API, heartbeats, fix output, events, logs) and before any prompt. */
export { isCardNumber, luhn } from "./card.ts";
export { redactDeep } from "./deep.ts";
export { mayContainSecret, type RedactResult, redact } from "./engine.ts";
export { RULES } from "./rules/index.ts";
export { REDACTION_KINDS, type RedactKind, type Rule } from "./types.ts";
