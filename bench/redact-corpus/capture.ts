/**
 * Builds the labelled redaction corpus from real programs' output:
 *
 *   bun bench/redact-corpus/capture.ts     (writes core/redact/testdata/captured.json)
 *
 * Starts PostgreSQL, Redis, nginx (with a Flask upstream) on loopback ports through the test
 * harness, runs real clients (psql, redis-cli, ioredis, curl, python, aws-cli, bash, ps) with
 * secrets it sets, and labels every line those programs wrote (see label.ts). Lines of programs
 * that cannot be installed are written in their documented format (documented.ts) and say so.
 * Each case belongs to the "written" split (looked at while writing the rules) or the "heldout"
 * split (only ever scored): bench/redact.bench.ts reports both.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { captureDocumented } from "./documented.ts";
import { captureHttp } from "./http.ts";
import type { LabelledLine } from "./label.ts";
import { capturePostgres } from "./postgres.ts";
import { capturePython } from "./python.ts";
import { captureRedis } from "./redis.ts";
import { captureShell } from "./shell.ts";

const OUT = join(import.meta.dir, "../../core/redact/testdata/captured.json");

const all: LabelledLine[] = [];
for (const [name, run] of [
  ["postgres", capturePostgres],
  ["redis", captureRedis],
  ["http", captureHttp],
  ["python", capturePython],
  ["shell", captureShell],
  ["documented", captureDocumented],
] as const) {
  const lines = await run();
  console.error(
    `${name}: ${lines.length} lines (${lines.filter((l) => l.secrets.length > 0).length} with secrets)`,
  );
  all.push(...lines);
}
// Indented as biome formats JSON, so a re-capture shows up in review as a plain diff.
writeFileSync(OUT, `${JSON.stringify(all, null, 2)}\n`);
console.error(`wrote ${all.length} lines to ${OUT}`);
process.exit(0);
