// Issue 18.5: an over-long record whose error lies past the cut. A traceback longer than max_lines
// keeps its head and its tail (where the exception is) and matches; a line longer than
// max_line_bytes whose head matches nothing but whose end mentions an error is shipped cut and
// flagged; every cut is counted.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { appendFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { nginxLine, until } from "../fixtures/collector-util.ts";
import { type RedisServer, startRedis, tempDir } from "../harness/index.ts";
import { errorEvents, printRow, redisCollector } from "./support.ts";

let redis: RedisServer;
const tmp = tempDir("mcpmon-fault-long-");
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
  tmp.cleanup();
});

test("a traceback past max_lines still ends in its exception: matched, with its fields", async () => {
  const file = join(tmp.path, "odoo.log");
  writeFileSync(file, "");
  const col = await redisCollector(redis.url, "long-odoo", tmp.path, {
    service_type: "odoo",
    log_paths: [file],
  });
  try {
    const frames: string[] = [];
    for (let i = 0; i < 400; i++)
      frames.push(`  File "/opt/odoo/addons/m${i}.py", line ${i}, in f${i}`, "    g()");
    const records = [0, 1, 2].map((i) =>
      [
        `2026-11-24 01:02:0${i},123 4242 ERROR ? odoo.http: Exception during request handling.`,
        "Traceback (most recent call last):",
        ...frames,
        `psycopg2.OperationalError: connection to server at "db-${i}.internal" (10.0.0.${i}), port 5432 failed: Connection refused`,
      ].join("\n"),
    );
    appendFileSync(file, `${records.join("\n")}\n2026-11-24 01:02:09,123 4242 INFO ? odoo.http: ok\n`);
    const hosts = ["db-0.internal", "db-1.internal", "db-2.internal"];
    const got = async () =>
      (await errorEvents(col.broker)).filter((e) => hosts.includes(e.fields.host ?? ""));
    await until("three matched tracebacks", async () => (await got()).length === 3).catch(() => {});
    const events = await got();
    printRow({
      scenario: "802-line traceback (max_lines 500), exception at its end",
      items: 3,
      delivered: events.length,
      lost: 3 - events.length,
      twice: 0,
      stuck: col.spooled(),
    });
    expect(events.map((e) => [e.pattern_id, e.fields.host, e.truncated])).toEqual(
      hosts.map((h) => ["odoo-db-connection-failed", h, true]),
    );
    expect(events[0]!.message).toContain("lines cut …]");
    expect(col.counters().truncated_records).toBe(3);
  } finally {
    await col.stop();
  }
}, 30_000);

test("a line past max_line_bytes: matched on its head, or shipped cut and flagged when only its end tells", async () => {
  const file = join(tmp.path, "nginx.log");
  writeFileSync(file, "");
  const col = await redisCollector(redis.url, "long-nginx", tmp.path, {
    log_paths: [file],
    max_line_bytes: 4096,
    flood: { max_per_second: 1_000_000 },
  });
  try {
    const t = "2026/11/24 01:02:03 [crit] 1234#1234: *1";
    const longPath = `${t} open() "/var/www/html/${"a".repeat(100_000)}.html" failed (13: Permission denied), client: 10.0.0.1, server: s`;
    const quiet = `${t} client sent a long header ${"b".repeat(100_000)} while reading client request headers`;
    appendFileSync(file, `${nginxLine(0, true)}\n${longPath}\n${quiet}\n${nginxLine(1, true)}\n`);
    const wanted = async () => {
      const ev = await errorEvents(col.broker);
      return { ev, cut: ev.filter((e) => e.pattern_id === "collector-cut-line") };
    };
    await until("the line after the long ones", async () =>
      (await wanted()).ev.some((e) => e.fields.path === "/var/www/html/f1.html"),
    );
    const { ev, cut } = await wanted();
    printRow({
      scenario: "100 KB line (max_line_bytes 4 KiB), error at its end",
      items: 1,
      delivered: cut.length,
      lost: 1 - cut.length,
      twice: 0,
      stuck: col.spooled(),
    });
    expect(cut.length).toBe(1);
    expect(cut[0]!.truncated).toBe(true);
    expect(cut[0]!.fields).toEqual({});
    expect(cut[0]!.message).toStartWith(`${t} open() "/var/www/html/aaa`);
    expect(cut[0]!.message).toEndWith('.html" failed (13: Permission denied), client: 10.0.0.1, server: s');
    // The quiet long line mentions no error; at crit it is shipped by the severity catch-all.
    expect(ev.map((e) => e.pattern_id).sort()).toEqual([
      "collector-cut-line",
      "nginx-permission-denied",
      "nginx-permission-denied",
      "nginx-unmatched",
    ]);
    expect(col.counters().truncated_lines).toBe(2);
    expect(col.counters().cut_shipped).toBe(1);
  } finally {
    await col.stop();
  }
}, 30_000);
