// Issue 18.7: a flood of one pattern over many targets. 1,000 distinct unreadable files within a
// second, default flood control (20 records/s per pattern and template): folds keep one sample per
// distinct path, and the analyzer's expandFold turns them into one event per file, whose path comes
// from the analyzer's own match of the sample. Past flood.max_distinct the rest is counted.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { appendFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expandFold } from "../../analyzer/fold.ts";
import { listIncidents } from "../../analyzer/operator.ts";
import { rematch } from "../../analyzer/pipeline.ts";
import { startAnalyzers } from "../../analyzer/worker.ts";
import { silentLogger } from "../../core/log.ts";
import { stripHeader } from "../../core/patterns/header.ts";
import type { ErrorEvent } from "../../core/schemas/error-event.ts";
import { drained, testConfig } from "../fixtures/analyzer-events.ts";
import { nginxLine, until } from "../fixtures/collector-util.ts";
import { type RedisServer, startRedis, tempDir } from "../harness/index.ts";
import { errorEvents, patterns, printRow, redisCollector, tally } from "./support.ts";

let redis: RedisServer;
const tmp = tempDir("mcpmon-fault-flood-");
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
  tmp.cleanup();
});

const nginx = patterns.get("nginx")!;
/** What the analyzer would act on: each expanded event's path, from its own match of the message. */
function targets(events: ErrorEvent[]) {
  let unlisted = 0;
  let count = 0;
  const out: ErrorEvent[] = [];
  for (const ev of events) {
    const x = expandFold(ev);
    unlisted += x.unlisted;
    for (const e of x.events) {
      const { fields } = rematch(nginx, e.pattern_id, e.message, stripHeader(nginx, e.message).message);
      out.push({ ...e, fields });
      count += e.count;
    }
  }
  return { events: out, unlisted, count: count + unlisted };
}

for (const maxDistinct of [1000, 100]) {
  test(`1,000 unreadable files in one burst (flood.max_distinct ${maxDistinct}): every file is a target or counted`, async () => {
    const file = join(tmp.path, `error-${maxDistinct}.log`);
    writeFileSync(file, "");
    const col = await redisCollector(redis.url, `flood-${maxDistinct}`, tmp.path, {
      log_paths: [file],
      flood: { max_distinct: maxDistinct },
    });
    try {
      const lines = Array.from({ length: 1000 }, (_, i) => nginxLine(i, true));
      appendFileSync(file, `${lines.join("\n")}\n${nginxLine(5000, false)}\n`);
      await until("every record counted", async () => targets(await errorEvents(col.broker)).count === 1000);
      const raw = await errorEvents(col.broker);
      const t = targets(raw);
      const want = Array.from({ length: 1000 }, (_, i) => `/var/www/html/f${i}.html`);
      const seen = tally(want, t.events, (e) => (e.fields.path ? [e.fields.path] : []));
      printRow({
        scenario: `1,000 files flood, max_distinct ${maxDistinct} (${raw.length} events, ${t.unlisted} unlisted)`,
        items: 1000,
        delivered: seen.delivered,
        lost: seen.lost - t.unlisted,
        twice: seen.twice,
        stuck: col.spooled(),
      });
      expect(raw.some((e) => (e.count ?? 1) > 1)).toBe(true); // it did fold
      expect(seen.twice).toBe(0);
      if (maxDistinct === 1000) {
        expect(seen.lost).toBe(0);
        expect(t.unlisted).toBe(0);
      } else {
        // Every file is either a target of its own or counted as unlisted (a needs_human incident).
        expect(seen.delivered + t.unlisted).toBe(1000);
        expect(t.unlisted).toBeGreaterThan(0);
      }
      expect(new Set(t.events.map((e) => e.event_id)).size).toBe(t.events.length);

      // The analyzers act on each distinct target: one incident per file, and one incident for a
      // person naming how many records were past the collector's bounds.
      const analyzers = await startAnalyzers({
        broker: col.broker,
        config: testConfig({ processing: { error_processors: 2, claim_idle_ms: 5_000 } }),
        apiKey: "",
        patterns,
        log: silentLogger,
      });
      try {
        await until("every entry analysed", () => drained(col.broker), 60_000);
        const incidents = await listIncidents(col.broker);
        const perFile = incidents.filter((i) => i.fields?.path?.startsWith("/var/www/html/f"));
        expect(new Set(perFile.map((i) => i.fields.path)).size).toBe(seen.delivered);
        const person = incidents.filter((i) => i.status_reason?.startsWith("flood control folded"));
        expect(person.length).toBe(t.unlisted > 0 ? 1 : 0);
        if (t.unlisted > 0) expect(person[0]!.status).toBe("needs_human");
        expect(incidents.reduce((n, i) => n + i.count, 0)).toBe(1000); // each record counted once
      } finally {
        await analyzers.stop();
      }
    } finally {
      await col.stop();
    }
  }, 120_000);
}
