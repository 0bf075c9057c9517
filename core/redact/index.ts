/** Secret redaction, applied by the collector before a record leaves the host and by the analyzer before any prompt. */
export { isCardNumber, luhn } from "./card.ts";
export { mayContainSecret, type RedactResult, redact } from "./redact.ts";
export { REDACTION_KINDS, type RedactKind } from "./rules.ts";
