// Issue 18.6: what follows an error line never takes its pattern or fields away. Binary junk does
// not continue a record; text that would change the first line's match is set beside the message;
// continuation lines that refine a match (a traceback's exception) still do.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { appendFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { nginxLine, until } from "../fixtures/collector-util.ts";
import { type RedisServer, startRedis, tempDir } from "../harness/index.ts";
import { errorEvents, printRow, redisCollector, tally } from "./support.ts";

let redis: RedisServer;
const tmp = tempDir("mcpmon-fault-junk-");
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
  tmp.cleanup();
});

test("binary junk and stray text after nginx error lines: every line keeps its path and its fix", async () => {
  const file = join(tmp.path, "error.log");
  writeFileSync(file, "");
  const col = await redisCollector(redis.url, "junk-nginx", tmp.path, {
    log_paths: [file],
    flood: { max_per_second: 1_000_000 },
  });
  try {
    const want: string[] = [];
    for (let i = 0; i < 20; i++) {
      want.push(`/var/www/html/f${i}.html`);
      appendFileSync(file, `${nginxLine(i, true)}\n`);
      // Junk that holds newlines but no line that starts like an nginx record.
      if (i % 2 === 0) appendFileSync(file, Buffer.concat([randomBytes(64 * 1024), Buffer.from("\n")]));
      else appendFileSync(file, "Caused by: a stray print() into the error log\n");
    }
    appendFileSync(file, `${nginxLine(99, false)}\n`);
    await until(
      "20 lines",
      async () => tally(want, await errorEvents(col.broker), (e) => [e.fields.path ?? ""]).lost === 0,
    ).catch(() => {});
    const events = await errorEvents(col.broker);
    const t = tally(want, events, (e) =>
      e.pattern_id === "nginx-permission-denied" && e.fields.path ? [e.fields.path] : [],
    );
    printRow({
      scenario: "error lines followed by 64 KB of binary or a stray text line",
      ...t,
      stuck: col.spooled(),
    });
    expect(t).toMatchObject({ lost: 0, twice: 0 });
    for (const e of events) {
      // The message is the first line alone: the analyzer's own match of it finds the same path.
      expect(e.message).toBe(nginxLine(Number(/f(\d+)/.exec(e.fields.path!)![1]), true));
    }
    const stray = events.filter((e) => e.continuation !== undefined);
    expect(stray.length).toBe(10);
    expect(stray[0]!.continuation).toBe("Caused by: a stray print() into the error log");
    expect(col.counters().junk_lines).toBeGreaterThan(0);
    expect(col.counters().continuations_detached).toBe(10);
  } finally {
    await col.stop();
  }
}, 30_000);

test("continuation lines that refine a match still do: a traceback names the missing module", async () => {
  const file = join(tmp.path, "odoo.log");
  writeFileSync(file, "");
  const col = await redisCollector(redis.url, "junk-odoo", tmp.path, {
    service_type: "odoo",
    log_paths: [file],
  });
  try {
    const record = [
      "2026-11-24 01:02:03,123 4242 ERROR prod odoo.modules.registry: Failed to load registry",
      "Traceback (most recent call last):",
      '  File "/opt/odoo/custom/l10n_custom/__init__.py", line 3, in <module>',
      "    import xlsxwriter",
      "ModuleNotFoundError: No module named 'xlsxwriter'",
    ].join("\n");
    appendFileSync(file, `${record}\n2026-11-24 01:02:04,123 4242 INFO prod odoo.http: ok\n`);
    await until("the event", async () => (await errorEvents(col.broker)).length === 1);
    const [e] = await errorEvents(col.broker);
    expect([e!.pattern_id, e!.fields.module, e!.continuation]).toEqual([
      "odoo-module-not-found",
      "xlsxwriter",
      undefined,
    ]);
  } finally {
    await col.stop();
  }
}, 30_000);
