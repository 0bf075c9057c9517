/**
 * Every stream, group and key name in one place (operators inspect these with `redis-cli`).
 * The prefix defaults to `mcp:`; tests use their own prefix so they never share state.
 *
 * On Redis every key carries one hash tag: the prefix `mcp:` becomes `{mcp}:`, so the streams are
 * `{mcp}:errors`, `{mcp}:fixes`, `{mcp}:events`, `{mcp}:dlq`. A key without braces hashes whole,
 * and the scripts touch several keys at once (a record, its version hash, a kv mark and the events
 * stream; the DLQ and a work stream): on Redis Cluster they must all live in one slot or the
 * script fails with CROSSSLOT. The same names on a single Redis, Sentinel and Cluster, so moving
 * between them keeps what operators type. The embedded broker has no slots and keeps `mcp:errors`.
 */
export interface Keys {
  /** The effective prefix, hash tag included (`{mcp}:` on Redis, `mcp:` embedded). */
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

export interface KeyOptions {
  /** Wrap the prefix in a hash tag (Redis); a prefix that already has one is kept as it is. */
  hashTag?: boolean;
}

/**
 * `mcp:` → `{mcp}:`, `app-` → `{app}-`; `{x}:mcp:` (an operator's own tag) stays. The separator
 * stays outside the braces so `{mcp}:errors` still reads as the prefix plus a name.
 */
export function hashTagged(prefix: string): string {
  if (/\{[^}]+\}/.test(prefix)) return prefix;
  const [, name = "", sep = ""] = /^(.*?)([:._-]*)$/.exec(prefix) ?? [];
  return `{${name || "mcp"}}${sep}`;
}

export function makeKeys(rawPrefix = "mcp:", opts: KeyOptions = {}): Keys {
  const prefix = opts.hashTag ? hashTagged(rawPrefix) : rawPrefix;
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

/**
 * A consumer idle this long with nothing pending has left (a process killed without a clean
 * stop); the trimmer removes it. A live one is never this idle: a blocking read touches it every
 * few seconds, and one busy with a long batch holds pending entries.
 */
export const DEFAULT_CONSUMER_IDLE_MS = 3_600_000;
