// The shipped patterns files, inside the binary: `with { type: "text" }` makes Bun (and
// `bun build --compile`) embed the raw text instead of parsing the YAML, so the loader reports
// problems with the same lines and key paths as for a file on disk.
import nginx from "../../patterns/nginx.yml" with { type: "text" };
import odoo from "../../patterns/odoo.yml" with { type: "text" };
import postgres from "../../patterns/postgres.yml" with { type: "text" };
import redis from "../../patterns/redis.yml" with { type: "text" };

/** File name → text of every shipped `patterns/*.yml`. */
export const EMBEDDED_PATTERNS: Readonly<Record<string, string>> = {
  "nginx.yml": nginx as string,
  "odoo.yml": odoo as string,
  "postgres.yml": postgres as string,
  "redis.yml": redis as string,
};
