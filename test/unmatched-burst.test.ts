// A burst of records no pattern names must reach a person as one incident, not hundreds: the
// collector folds them (one pattern id, one message template per second) and the analyzer's miner
// groups what is left by template. Fed with the real Redis log of a replica whose master wants a
// password, which retries (and fails) hundreds of times a second.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { TemplateMiner } from "../analyzer/templates/miner.ts";
import { createMatcher } from "../collector/match.ts";
import { FileProcessor, newCounters } from "../collector/pipeline.ts";
import { withUnmatched } from "../collector/unmatched.ts";
import { stripHeader } from "../core/patterns/header.ts";
import { loadPatternsDir } from "../core/patterns/load.ts";
import type { ErrorEvent } from "../core/schemas/error-event.ts";

const patterns = loadPatternsDir(join(import.meta.dir, "../patterns"));
const redis = patterns.get("redis")!;
const LOG = join(import.meta.dir, "fixtures/realogs/redis/held.log");

describe("a burst of unmatched records", () => {
  test("folds in the collector and groups into one template in the analyzer", () => {
    const matcher = createMatcher(patterns);
    const counters = newCounters();
    const fp = new FileProcessor(
      {
        clientId: "c",
        host: "h",
        service: "redis",
        match: withUnmatched((s, r) => matcher.match(s, r), redis),
        redact: (text) => ({ text, count: 0 }),
        multiline: redis.multiline,
        floodPerSecond: 20,
        // One clock second for the whole file: the burst is as dense as Redis wrote it.
        now: () => 1_000,
        counters,
      },
      "file-1",
      LOG,
      0,
    );
    let offset = 0;
    for (const line of readFileSync(LOG, "utf8").split("\n")) {
      const size = Buffer.byteLength(line) + 1;
      fp.line(line, offset, size, 0);
      offset += size;
    }
    fp.flush();
    fp.expire(2_000, true);
    const events = fp.take().map((e) => JSON.parse(e.data) as ErrorEvent);
    const burst = events.filter((e) => e.message.includes("MASTER aborted replication with an error"));
    const records = burst.reduce((n, e) => n + e.count, 0);
    expect(records).toBeGreaterThan(20);
    expect(burst.every((e) => e.pattern_id === "redis-unmatched" && e.severity === "warning")).toBe(true);
    // At most floodPerSecond records of it pass one by one; the rest ride in one fold.
    expect(burst.length).toBeLessThanOrEqual(21);
    expect(burst.some((e) => e.count > 1)).toBe(true);
    const miner = new TemplateMiner({ service: "redis" });
    const fingerprints = new Set(
      burst.map((e) => miner.add(stripHeader(redis, e.message).message, e.pattern_id).fingerprint),
    );
    expect(fingerprints.size).toBe(1);
  });
});
