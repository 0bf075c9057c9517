// Restarts of the collector (clean stops) around rotations and folds: what was written while it was
// away, or read but not yet final when it stopped, arrives exactly once.
import { Database } from "bun:sqlite";
import { afterAll, expect, test } from "bun:test";
import { appendFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCollector } from "../collector/index.ts";
import { loadPatternsDir } from "../core/patterns/load.ts";
import { clientConfig, memoryBroker, nginxLine, until } from "./fixtures/collector-util.ts";
import { tempDir } from "./harness/index.ts";

const tmp = tempDir("mcpmon-restart-");
afterAll(() => tmp.cleanup());
const patterns = loadPatternsDir(join(import.meta.dir, "../patterns"));

/** Lines `from`..`from+n-1`, every tenth an error; returns the text and the error numbers. */
function batch(from: number, n: number) {
  const lines: string[] = [];
  const errors: number[] = [];
  for (let i = from; i < from + n; i++) {
    if (i % 10 === 0) errors.push(i);
    lines.push(nginxLine(i, i % 10 === 0));
  }
  return { text: `${lines.join("\n")}\n`, errors };
}

const lineNo = (path: string | undefined) => Number(/f(\d+)\.html/.exec(path ?? "")?.[1]);

function start(name: string, file: string, over: Record<string, unknown> = {}, now?: () => number) {
  const mb = memoryBroker();
  const config = clientConfig({
    client_id: name,
    log_paths: [file],
    state_dir: join(tmp.path, `state-${name}`),
    flood: { max_per_second: 1_000_000 },
    ...over,
  });
  let c: Awaited<ReturnType<typeof runCollector>> | undefined;
  const run = async () => {
    c = await runCollector([config], {
      broker: mb.broker,
      patterns,
      ...(now ? { now } : {}),
      tuning: { heartbeat: false, rotateWaitMs: 100 },
    });
    return c;
  };
  const status = () => c!.status().clients[0]!;
  const got = () => new Set(mb.events().map((e) => lineNo(e.fields.path)));
  /** The paths of the client's checkpoint rows, as the state database holds them now. */
  const rows = () => {
    const db = new Database(join(tmp.path, `state-${name}`, "collector.db"), { readonly: true });
    try {
      return db
        .query<{ path: string }, []>("SELECT path FROM files")
        .all()
        .map((r) => r.path);
    } finally {
      db.close();
    }
  };
  return { mb, run, got, status, rows };
}

test("read_from: end applies to the first start only: a file rotated in while down is read from 0", async () => {
  const file = join(tmp.path, "fromend.log");
  writeFileSync(file, "");
  const s = start("fromend", file, { read_from: "end" });
  let c = await s.run();
  const a = batch(0, 100);
  appendFileSync(file, a.text);
  await until("first batch", () => a.errors.every((i) => s.got().has(i)));
  await c.stop({ drainMs: 1000 });
  // While the collector is down, logrotate renames the file and the service writes a new one.
  renameSync(file, `${file}.1`);
  const b = batch(100, 100);
  writeFileSync(file, b.text);
  c = await s.run();
  try {
    const d = batch(200, 100);
    appendFileSync(file, d.text);
    const want = [...a.errors, ...b.errors, ...d.errors];
    await until("every error line", () => want.every((i) => s.got().has(i)));
    expect(want.filter((i) => !s.got().has(i))).toEqual([]);
  } finally {
    await c.stop({ drainMs: 0 });
  }
}, 60_000);

test("rename rotation while down: the rest of the renamed file (outside the glob) is read, then dropped", async () => {
  const file = join(tmp.path, "down.log");
  writeFileSync(file, "");
  const s = start("down", file);
  let c = await s.run();
  const a = batch(0, 100);
  appendFileSync(file, a.text);
  await until("first batch", () => a.errors.every((i) => s.got().has(i)));
  await c.stop({ drainMs: 1000 });
  // While down: the service writes more to the old file, logrotate renames it, a new file starts.
  const b = batch(100, 100);
  appendFileSync(file, b.text);
  renameSync(file, `${file}.1`);
  const d = batch(200, 100);
  writeFileSync(file, d.text);
  c = await s.run();
  try {
    const want = [...a.errors, ...b.errors, ...d.errors];
    await until("every error line", () => want.every((i) => s.got().has(i)));
    await until("the renamed file drained and closed", () => s.status().counters.files_closed === 1);
    expect(s.status().counters.files_lost).toBe(0);
  } finally {
    await c.stop({ drainMs: 0 });
  }
  expect(s.rows()).toEqual([file]);
  expect(s.mb.events().length).toBe(30);
}, 60_000);

test("a checkpointed file gone while down is dropped from the state and counted", async () => {
  const file = join(tmp.path, "gone.log");
  writeFileSync(file, "");
  const s = start("gone", file);
  let c = await s.run();
  appendFileSync(file, batch(0, 10).text);
  await until("first batch", () => s.got().has(0));
  await c.stop({ drainMs: 1000 });
  appendFileSync(file, batch(10, 10).text);
  renameSync(file, `${file}.1`);
  unlinkSync(`${file}.1`); // rotated and deleted (or compressed) before the collector came back
  c = await s.run();
  try {
    await until("the row dropped", () => s.rows().length === 0);
    expect(s.status().counters.files_lost).toBe(1);
  } finally {
    await c.stop({ drainMs: 0 });
  }
}, 60_000);

test("folds open at a clean stop are emitted: after the restart every record is counted once", async () => {
  const file = join(tmp.path, "folds.log");
  writeFileSync(file, "");
  const A = (i: number) =>
    `2026/11/24 01:02:03 [crit] 1234#1234: *${i} open() "/var/www/html/f${i}.html" failed (13: Permission denied), client: 10.0.0.1, server: s, request: "GET /f${i}.html HTTP/1.1", host: "h"`;
  const B = (i: number) =>
    `2026/11/24 01:02:03 [error] 1234#1234: *${i} open() "/var/www/html/m${i}.png" failed (2: No such file or directory), client: 10.0.0.1, server: s, request: "GET /m${i}.png HTTP/1.1", host: "h"`;
  let t = 1_000_000;
  const s = start("folds", file, { flood: { max_per_second: 5 } }, () => t);
  const write = (lines: string[]) => appendFileSync(file, `${lines.join("\n")}\n`);
  const counted = () => {
    const by: Record<string, number> = {};
    for (const e of s.mb.events()) by[e.pattern_id] = (by[e.pattern_id] ?? 0) + (e.count ?? 1);
    return by;
  };
  let c = await s.run();
  write([0, 1, 2, 3, 4].map(B)); // B's window opens at t: 5 pass
  // nginx's multiline rule keeps the last line open until the next one: 4 of 5 are matched.
  await until("B passed", () => (s.status().counters.matched ?? 0) >= 4);
  t += 500;
  write([10, 11, 12, 13, 14, 15].map(A)); // A's window opens at t+500: 5 pass, a fold opens at A15
  write([20, 21, 22, 23, 24, 25, 26, 27, 28, 29].map(B)); // B's window is full: these fold
  await until("all matched", () => (s.status().counters.matched ?? 0) >= 20);
  t += 600; // B's window expires, A's does not: B's fold is emitted while A's, older, is open
  await until("B's fold shipped", () => s.mb.events().some((e) => (e.count ?? 1) > 1));
  await c.stop({ drainMs: 1000 });
  t += 5000;
  c = await s.run();
  t += 2000; // every window closes, the last record is flushed
  await until("every record counted", () => (counted()["nginx-file-not-found"] ?? 0) >= 15);
  await Bun.sleep(300); // a few more rounds of the loop, in which a double count would show
  await c.stop({ drainMs: 1000 });
  expect(counted()).toEqual({ "nginx-file-not-found": 15, "nginx-permission-denied": 6 });
}, 60_000);
