// kill -9 of a real collector process while 100,000 lines are written at a steady rate, with a
// real redis-server: every matching line reaches mcp:errors at least once, and a line shipped twice
// carries the same event id both times.

import { Database } from "bun:sqlite";
import { afterAll, beforeAll, expect, test } from "bun:test";
import { closeSync, copyFileSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { createBroker } from "../broker/index.ts";
import type { Broker } from "../broker/types.ts";
import type { ErrorEvent } from "../core/schemas/error-event.ts";
import { nginxLine, until } from "./fixtures/collector-util.ts";
import { type RedisServer, startRedis, tempDir } from "./harness/index.ts";

let redis: RedisServer;
let broker: Broker;
const tmp = tempDir("mcpmon-crash-");
const prefix = `t-crash-${process.pid}:`;

beforeAll(async () => {
  redis = await startRedis();
  broker = createBroker(redis.url, { prefix });
});
afterAll(async () => {
  await broker?.close();
  await redis?.stop();
  tmp.cleanup();
});

function spawnCollector(config: object) {
  const proc = Bun.spawn(
    [process.execPath, join(import.meta.dir, "fixtures/collector-main.ts"), JSON.stringify(config)],
    {
      stdout: "pipe",
      stderr: "inherit",
      env: { ...process.env, MCP_PATTERNS_DIR: join(import.meta.dir, "../patterns") },
    },
  );
  const ready = (async () => {
    const reader = proc.stdout.getReader();
    let text = "";
    while (!text.includes("ready")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`collector exited before ready (code ${await proc.exited})`);
      text += new TextDecoder().decode(value);
    }
    reader.releaseLock();
  })();
  return { proc, ready };
}

test("kill -9 while 100,000 lines are written, twice, then restart: no matching line is lost", async () => {
  const file = join(tmp.path, "error.log");
  const stateDir = join(tmp.path, "state");
  const dbFile = join(stateDir, "collector.db");
  const config = {
    client_id: "crash-client",
    service_type: "nginx",
    host: "crash-host",
    log_paths: [file],
    state_dir: stateDir,
    read_from: "beginning",
    poll_interval_ms: 50,
    health_check_interval: 3600,
    broker: { url: redis.url, prefix },
    // No folding: the test checks every single line.
    flood: { max_per_second: 1_000_000 },
  };
  const fd = openSync(file, "a");
  let c = spawnCollector(config);
  await c.ready;

  const total = 100_000;
  const perTick = 200; // 200 lines / 10 ms = 20,000 lines/s
  const expected = new Set<number>();
  let snapshotTaken = false;
  const kills: number[] = [];
  for (let i = 0; i < total; ) {
    const lines: string[] = [];
    for (let k = 0; k < perTick && i < total; k++, i++) {
      const error = i % 50 === 7;
      if (error) expected.add(i);
      lines.push(nginxLine(i, error));
    }
    writeSync(fd, `${lines.join("\n")}\n`);
    if (i === 35_000) {
      // A plain crash in the middle of reading and shipping.
      c.proc.kill("SIGKILL");
      await c.proc.exited;
      kills.push(i);
      await Bun.sleep(200); // lines keep arriving while it is down
      c = spawnCollector(config);
      await c.ready;
    }
    if (i === 60_000) {
      // A consistent copy of the state as it is now: restored below, it plays a crash that lost its
      // last commits after they were shipped (power loss under synchronous=NORMAL). Everything
      // read since is read and shipped again, which must give the same event ids.
      const snap = new Database(dbFile);
      snap.exec(`VACUUM INTO '${dbFile}.snap'`);
      snap.close();
      snapshotTaken = true;
    }
    if (i === 75_000 && snapshotTaken) {
      c.proc.kill("SIGKILL");
      await c.proc.exited;
      kills.push(i);
      for (const ext of ["", "-wal", "-shm"]) rmSync(dbFile + ext, { force: true });
      copyFileSync(`${dbFile}.snap`, dbFile);
      c = spawnCollector(config);
      await c.ready;
    }
    await Bun.sleep(10);
  }
  closeSync(fd);

  const seen = new Map<number, Set<string>>();
  const idsByOffset = new Map<number, Set<string>>();
  let entries = 0;
  const collect = async () => {
    seen.clear();
    idsByOffset.clear();
    const all = await broker.range(broker.keys.errors, "-", "+");
    entries = all.length;
    for (const e of all) {
      const ev = JSON.parse(e.fields.data!) as ErrorEvent;
      const i = Number(/f(\d+)\.html/.exec(ev.fields.path ?? "")?.[1]);
      if (!seen.has(i)) seen.set(i, new Set());
      seen.get(i)!.add(ev.event_id);
      const off = ev.source!.offset;
      if (!idsByOffset.has(off)) idsByOffset.set(off, new Set());
      idsByOffset.get(off)!.add(ev.event_id);
    }
    return [...expected].every((i) => seen.has(i));
  };
  await until("every error line in mcp:errors", collect, 30_000);
  c.proc.kill("SIGTERM");
  await c.proc.exited;

  expect(kills).toEqual([35_000, 75_000]);
  const missing = [...expected].filter((i) => !seen.has(i));
  expect(missing).toEqual([]);
  expect([...seen.keys()].filter((i) => !expected.has(i))).toEqual([]);
  // The restored snapshot made the collector ship lines 60,000..75,000+ a second time.
  expect(entries).toBeGreaterThan(expected.size);
  // …each under the id it had the first time: one id per line, one id per offset.
  for (const ids of seen.values()) expect(ids.size).toBe(1);
  for (const ids of idsByOffset.values()) expect(ids.size).toBe(1);
}, 120_000);

test.each([
  // read_from: end and a plain path: after a kill, the new file (rotated in while down) has no
  // checkpoint and must be read from 0, and the rest of the renamed one is outside the glob.
  { readFrom: "end", glob: false },
  { readFrom: "beginning", glob: true },
])(
  "kill -9 around rename rotations (read_from $readFrom, glob $glob): every error line, one id each",
  async ({ readFrom, glob }) => {
    const name = `rot-${readFrom}-${glob ? "glob" : "plain"}`;
    const dir = join(tmp.path, name);
    mkdirSync(dir);
    const file = join(dir, "error.log");
    const rbroker = createBroker(redis.url, { prefix: `${prefix}${name}:` });
    const config = {
      client_id: name,
      service_type: "nginx",
      host: "crash-host",
      log_paths: [glob ? `${file}*` : file],
      state_dir: join(dir, "state"),
      read_from: readFrom,
      poll_interval_ms: 50,
      health_check_interval: 3600,
      broker: { url: redis.url, prefix: `${prefix}${name}:` },
      flood: { max_per_second: 1_000_000 },
    };
    let fd = openSync(file, "a");
    let gen = 0;
    const rotate = () => {
      renameSync(file, `${file}.${++gen}`);
      closeSync(fd);
      fd = openSync(file, "a");
    };
    let c = spawnCollector(config);
    await c.ready;
    const expected = new Set<number>();
    const total = 24_000;
    // Fixed kill points; every other one rotates while the collector is down and starts the new
    // file with a line, so that it exists with content before the restart.
    const kills = [2_500, 6_100, 9_900, 14_300, 18_700, 21_100];
    for (let i = 0; i < total; ) {
      const lines: string[] = [];
      for (let k = 0; k < 100 && i < total; k++, i++) {
        const error = i % 50 === 7;
        if (error) expected.add(i);
        lines.push(nginxLine(i, error));
      }
      writeSync(fd, `${lines.join("\n")}\n`);
      if (i % 5_000 === 0) rotate();
      const kill = kills.indexOf(i);
      if (kill !== -1) {
        c.proc.kill("SIGKILL");
        await c.proc.exited;
        if (kill % 2 === 1) {
          rotate();
          writeSync(fd, `${nginxLine(900_000 + gen, true)}\n`);
          expected.add(900_000 + gen);
        }
        c = spawnCollector(config);
        await c.ready;
      }
      await Bun.sleep(5);
    }
    closeSync(fd);
    const ids = new Map<number, Set<string>>();
    try {
      await until(
        "every error line in mcp:errors",
        async () => {
          ids.clear();
          for (const e of await rbroker.range(rbroker.keys.errors, "-", "+")) {
            const ev = JSON.parse(e.fields.data!) as ErrorEvent;
            const i = Number(/f(\d+)\.html/.exec(ev.fields.path ?? "")?.[1]);
            if (!ids.has(i)) ids.set(i, new Set());
            ids.get(i)!.add(ev.event_id);
          }
          return [...expected].every((i) => ids.has(i));
        },
        30_000,
      ).catch(() => undefined);
    } finally {
      c.proc.kill("SIGTERM");
      await c.proc.exited;
      await rbroker.close();
    }
    expect([...expected].filter((i) => !ids.has(i))).toEqual([]);
    expect([...ids].filter(([, s]) => s.size > 1)).toEqual([]);
  },
  120_000,
);
