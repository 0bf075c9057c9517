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
