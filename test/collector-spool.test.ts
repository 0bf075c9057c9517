// The bounded spool: with the broker away, reading pauses when the spool is full (the log file is
// the buffer), status says so, and everything is shipped once the broker is back. Flood control
// folds a burst into one visible event.
import { afterAll, expect, test } from "bun:test";
import { appendFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCollector } from "../collector/index.ts";
import { loadPatternsDir } from "../core/patterns/load.ts";
import { clientConfig, memoryBroker, nginxLine, until } from "./fixtures/collector-util.ts";
import { tempDir } from "./harness/index.ts";

const tmp = tempDir("mcpmon-spool-");
afterAll(() => tmp.cleanup());
const patterns = loadPatternsDir(join(import.meta.dir, "../patterns"));

test("a full spool pauses reading, says so, and resumes by itself", async () => {
  const file = join(tmp.path, "error.log");
  writeFileSync(file, "");
  const mb = memoryBroker();
  mb.state.down = true;
  const c = await runCollector(
    [
      clientConfig({
        client_id: "full",
        log_paths: [file],
        state_dir: join(tmp.path, "state"),
        spool: { max_bytes: 50_000 },
        flood: { max_per_second: 1_000_000 },
      }),
    ],
    { broker: mb.broker, patterns, tuning: { heartbeat: false, chunkBytes: 16_384, commitBytes: 16_384 } },
  );
  const status = () => c.status().clients[0]!;
  try {
    const lines: string[] = [];
    for (let i = 0; i < 5000; i++) lines.push(nginxLine(i, i % 2 === 0));
    appendFileSync(file, `${lines.join("\n")}\n`);
    await until("reading paused", () => status().reading_paused);
    const paused = status();
    expect(paused.spool_bytes).toBeGreaterThanOrEqual(50_000);
    expect(paused.lag_bytes).toBeGreaterThan(0); // the rest waits in the log file
    await Bun.sleep(200);
    expect(status().files[0]!.offset).toBe(paused.files[0]!.offset); // really stopped
    mb.state.down = false;
    await until(
      "every error line shipped",
      () => new Set(mb.events().map((e) => e.fields.path)).size === 2500,
    );
    await until("spool empty, reading resumed", () => status().spool_depth === 0 && !status().reading_paused);
    expect(status().lag_bytes).toBe(0);
  } finally {
    await c.stop({ drainMs: 0 });
  }
}, 60_000);

test("a burst of one pattern and template is folded into one event with a count; none dropped", async () => {
  const file = join(tmp.path, "burst.log");
  writeFileSync(file, "");
  const mb = memoryBroker();
  let now = 1_000_000;
  const c = await runCollector(
    [
      clientConfig({
        client_id: "burst",
        log_paths: [file],
        state_dir: join(tmp.path, "state2"),
        flood: { max_per_second: 5 },
      }),
    ],
    { broker: mb.broker, patterns, now: () => now, tuning: { heartbeat: false } },
  );
  try {
    const same =
      '2026/11/24 01:02:03 [error] 1234#1234: *1 connect() failed (111: Connection refused) while connecting to upstream, client: 10.0.0.1, server: x, request: "GET / HTTP/1.1", upstream: "http://127.0.0.1:9/", host: "x"';
    appendFileSync(file, `${Array(100).fill(same).join("\n")}\n${nginxLine(0, false)}\n`);
    await until("100 records matched", () => c.status().clients[0]!.counters.matched === 100);
    now += 1500; // the window closes
    await until("the fold shipped", () => mb.events().some((e) => (e.count ?? 1) > 1));
    const evs = mb.events();
    expect(evs.length).toBe(6);
    const fold = evs.find((e) => (e.count ?? 1) > 1)!;
    expect(fold.count).toBe(95);
    expect(fold.source!.last_offset).toBeGreaterThan(fold.source!.offset);
    expect(evs.reduce((n, e) => n + (e.count ?? 1), 0)).toBe(100);
  } finally {
    await c.stop({ drainMs: 0 });
  }
}, 60_000);

test.each([
  // 4 KiB chunks of ~200-byte lines: the chunk read last before the pause ends mid-line.
  { name: "small chunks", lines: 2000, maxBytes: 20_000, tuning: { chunkBytes: 4096, commitBytes: 16_384 } },
  // The defaults (64 KiB chunks, a commit every 4 MiB), as in production.
  { name: "default chunks", lines: 60_000, maxBytes: 1_000_000, tuning: {} },
])(
  "while reading is paused, the flush timeout does not cut the half line the last chunk ended in ($name)",
  async ({ name, lines: n, maxBytes, tuning }) => {
    const file = join(tmp.path, `paused-${n}.log`);
    writeFileSync(file, "");
    const mb = memoryBroker();
    mb.state.down = true;
    let now = 1_000_000; // the collector's clock: flush timeouts pass when the test says so
    const c = await runCollector(
      [
        clientConfig({
          client_id: `paused-${n}`,
          log_paths: [file],
          state_dir: join(tmp.path, `state-paused-${n}`),
          spool: { max_bytes: maxBytes },
          flood: { max_per_second: 1_000_000 },
        }),
      ],
      {
        broker: mb.broker,
        patterns,
        now: () => now,
        tuning: { heartbeat: false, ...tuning },
      },
    );
    const status = () => c.status().clients[0]!;
    try {
      const lines: string[] = [];
      for (let i = 0; i < n; i++) lines.push(nginxLine(i, true));
      appendFileSync(file, `${lines.join("\n")}\n`);
      await until("reading paused", () => status().reading_paused);
      // Far past the flush timeout, for a few steps of the loop (it polls every 50 ms).
      now += 10_000;
      await Bun.sleep(300);
      mb.state.down = false;
      await until("every line read", () => (status().counters.lines ?? 0) >= n && status().lag_bytes === 0);
      now += 10_000; // nginx's multiline rule holds the last record until the flush timeout
      await until(
        `all ${n} lines shipped (${name})`,
        () => new Set(mb.events().map((e) => e.fields.path)).size >= n,
      );
      const whole = /^2026\/11\/24 01:02:03 \[crit\] 1234#1234: \*\d+ open\(\) ".*", host: "example\.com"$/;
      expect(mb.events().filter((e) => !whole.test(e.message))).toEqual([]);
      expect(status().counters.lines).toBe(n);
      expect(status().counters.records).toBe(n);
    } finally {
      await c.stop({ drainMs: 0 });
    }
  },
  60_000,
);
