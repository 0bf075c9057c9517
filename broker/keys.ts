/**
 * Every stream, group and key name in one place (operators inspect these with `redis-cli`).
 * The prefix defaults to `mcp:`; tests use their own prefix so they never share state.
 */
export interface Keys {
  prefix: string;
  errors: string;
  fixes: string;
  events: string;
  dlq: string;
  /** State records of one kind: incidents, fixes, clients. */
  records(kind: RecordKind): string;
  cache(key: string): string;
  seen(key: string): string;
  kv(key: string): string;
  /** Hashes of small values (hashGetAll / hashSet). */
  hash(key: string): string;
  budget(name: string): string;
}

export type RecordKind = "incident" | "fix" | "client";

export const GROUPS = { analyzers: "analyzers", executors: "executors" } as const;

export function makeKeys(prefix = "mcp:"): Keys {
  return {
    prefix,
    errors: `${prefix}errors`,
    fixes: `${prefix}fixes`,
    events: `${prefix}events`,
    dlq: `${prefix}dlq`,
    records: (kind) => `${prefix}state:${kind}`,
    cache: (key) => `${prefix}cache:${key}`,
    seen: (key) => `${prefix}seen:${key}`,
    kv: (key) => `${prefix}kv:${key}`,
    hash: (key) => `${prefix}hash:${key}`,
    budget: (name) => `${prefix}budget:${name}`,
  };
}

/** Streams that are not work queues are capped (`MAXLEN ~`) so they cannot grow without bound. */
export const DEFAULT_CAPS = { events: 100_000, dlq: 100_000 } as const;

/** Newest entries `trimAcked` always keeps in a work queue, acknowledged or not (recent history). */
export const DEFAULT_TRIM_KEEP = 1_000;
