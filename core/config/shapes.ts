import * as v from "valibot";

/** Small schema builders whose messages read well in `mcpmon check-config` output. */
export const posInt = (description: string, def: number) =>
  v.optional(
    v.pipe(
      v.number("expected a positive integer"),
      v.integer("expected a positive integer"),
      v.minValue(1, "expected a positive integer"),
      v.description(description),
    ),
    def,
  );

export const nonNegInt = (description: string, def: number) =>
  v.optional(
    v.pipe(
      v.number("expected a non-negative integer"),
      v.integer("expected a non-negative integer"),
      v.minValue(0, "expected a non-negative integer"),
      v.description(description),
    ),
    def,
  );

export const port = (description: string) =>
  v.pipe(
    v.number("expected a TCP port (1-65535)"),
    v.integer("expected a TCP port (1-65535)"),
    v.minValue(1, "expected a TCP port (1-65535)"),
    v.maxValue(65535, "expected a TCP port (1-65535)"),
    v.description(description),
  );

export const str = (description: string) => v.pipe(v.string("expected a string"), v.description(description));
export const bool = (description: string, def: boolean) =>
  v.optional(v.pipe(v.boolean("expected true or false"), v.description(description)), def);

/**
 * `broker.url`: checked here, not when the broker opens, so `check-config` and start-up both
 * refuse a typo (`redis:/host`, `http://…`) with the file and line instead of failing later.
 */
export const BROKER_URL_EXPECTED =
  "expected redis://HOST:PORT, rediss://…, redis+cluster://H:P,H:P, redis+sentinel://H:P,H:P/MASTER, sqlite:PATH or a file path";
export function brokerUrlProblem(url: string): string | undefined {
  const u = url.trim();
  if (u === "") return BROKER_URL_EXPECTED;
  // The same forms as broker/redis/url.ts (core imports nothing above it); details are checked there.
  if (/^rediss?(\+(cluster|sentinel))?:\/\/[^/]/i.test(u)) return undefined;
  if (/^sqlite:/i.test(u)) return u.replace(/^sqlite:(\/\/)?/i, "") ? undefined : "sqlite: needs a file path";
  // Anything that looks like a scheme (two letters or more, then a colon) but is not one of ours.
  if (/^[a-z][a-z0-9+.-]+:/i.test(u)) return BROKER_URL_EXPECTED;
  return undefined;
}
export const brokerUrl = (description: string) =>
  v.pipe(
    v.string("expected a string"),
    v.check((u) => brokerUrlProblem(u) === undefined, BROKER_URL_EXPECTED),
    v.description(description),
  );
