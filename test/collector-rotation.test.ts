// Rename rotation and copytruncate while lines are being written, on real files: no line is lost.
import { afterAll, expect, test } from "bun:test";
import {
  appendFileSync,
  closeSync,
  copyFileSync,
  ftruncateSync,
  openSync,
  renameSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { runCollector } from "../collector/index.ts";
import { loadPatternsDir } from "../core/patterns/load.ts";
import { clientConfig, memoryBroker, nginxLine, until } from "./fixtures/collector-util.ts";
import { tempDir } from "./harness/index.ts";

const tmp = tempDir("mcpmon-rotation-");
afterAll(() => tmp.cleanup());
const patterns = loadPatternsDir(join(import.meta.dir, "../patterns"));

test("rename rotation (with late writes to the old file) then copytruncate: every error line arrives", async () => {
  const file = join(tmp.path, "error.log");
  const mb = memoryBroker();
  const expected = new Set<number>();
  let i = 0;
  const burst = (fd: number, n: number) => {
    const lines: string[] = [];
    for (let k = 0; k < n; k++, i++) {
      const error = i % 5 === 0;
      if (error) expected.add(i);
      lines.push(nginxLine(i, error));
    }
    writeSync(fd, `${lines.join("\n")}\n`);
  };
  let fd = openSync(file, "a");
  const c = await runCollector(
    [
      clientConfig({
        client_id: "rot",
        log_paths: [file],
        state_dir: join(tmp.path, "state"),
        flood: { max_per_second: 1_000_000 },
      }),
    ],
    { broker: mb.broker, patterns, tuning: { heartbeat: false, rotateWaitMs: 300 } },
  );
  try {
    for (let b = 0; b < 10; b++) {
      burst(fd, 100);
      await Bun.sleep(5);
    }
    // Rename rotation: the writer keeps its descriptor and writes 100 more lines to the renamed
    // file (nginx does until it gets USR1), then reopens the path.
    renameSync(file, `${file}.1`);
    burst(fd, 50);
    await Bun.sleep(20);
    burst(fd, 50);
    closeSync(fd);
    fd = openSync(file, "a");
    for (let b = 0; b < 9; b++) {
      burst(fd, 100);
      await Bun.sleep(5);
    }
    // copytruncate: once the collector has caught up, copy and truncate, then at once (before the
    // collector can look) write more than the old size: only the fingerprint reveals the restart.
    const status = () => c.status().clients[0]!;
    await until("caught up before copytruncate", () =>
      status().files.some((f) => f.path === file && f.offset === statSync(file).size),
    );
    const oldSize = statSync(file).size;
    copyFileSync(file, `${file}.2`);
    ftruncateSync(fd, 0);
    burst(fd, 1200);
    expect(statSync(file).size).toBeGreaterThan(oldSize);
    for (let b = 0; b < 8; b++) {
      burst(fd, 100);
      await Bun.sleep(5);
    }
    closeSync(fd);

    const got = () => new Set(mb.events().map((e) => Number(/f(\d+)\.html/.exec(e.fields.path ?? "")?.[1])));
    await until("every error line shipped", () => [...expected].every((n) => got().has(n)));
    expect([...expected].filter((n) => !got().has(n))).toEqual([]);
    const counters = status().counters;
    expect(counters.rotations).toBeGreaterThanOrEqual(1);
    expect(counters.truncations).toBe(1);
    // The renamed file is closed once drained and idle past the rotate wait.
    await until("rotated file closed", () => (status().counters.files_closed ?? 0) >= 1);
    // Lines read again after the restart carry new ids: offsets restarted under a new file id.
    const ids = mb.events().map((e) => e.event_id);
    expect(new Set(ids).size).toBe(ids.length);
  } finally {
    await c.stop({ drainMs: 0 });
  }
}, 60_000);

/**
 * copytruncate followed at once by more lines than the old size, with a slow poll (2 s) so that the
 * read woken by fs.watch comes before any scan. `scanFirst`: a scan fingerprinted the file before
 * (else it was empty at the last scan, and the fingerprint only ever came from reads).
 */
async function copytruncateBeforeScan(name: string, scanFirst: boolean) {
  const file = join(tmp.path, `${name}.log`);
  writeFileSync(file, "");
  const mb = memoryBroker();
  const c = await runCollector(
    [
      clientConfig({
        client_id: name,
        log_paths: [file],
        state_dir: join(tmp.path, `state-${name}`),
        poll_interval_ms: 2000,
        flood: { max_per_second: 1_000_000 },
      }),
    ],
    { broker: mb.broker, patterns, tuning: { heartbeat: false } },
  );
  const status = () => c.status().clients[0]!;
  const lineNo = (path: string | undefined) => Number(/f(\d+)\.html/.exec(path ?? "")?.[1]);
  const write = (from: number, n: number) => {
    const lines: string[] = [];
    for (let i = from; i < from + n; i++) lines.push(nginxLine(i, i % 10 === 0));
    appendFileSync(file, `${lines.join("\n")}\n`);
  };
  try {
    write(0, 100);
    await until("first lines shipped", () => mb.events().length === 10);
    if (scanFirst) await Bun.sleep(2500); // past the next scan (every 2 s), which fingerprints the file
    const fd = openSync(file, "r+");
    ftruncateSync(fd, 0);
    closeSync(fd);
    write(1000, 150);
    await until(
      "the new content read and shipped",
      () => status().counters.truncations === 1 && status().lag_bytes === 0 && status().spool_depth === 0,
    );
    await c.stop({ drainMs: 1000 });
    const evs = mb.events();
    const want = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90];
    for (let i = 1000; i < 1150; i += 10) want.push(i);
    // Each line exactly once: nothing lost, no fragment, no copy under another id.
    expect(evs.map((e) => lineNo(e.fields.path)).sort((a, b) => a - b)).toEqual(want);
    const ids = new Set(evs.filter((e) => lineNo(e.fields.path) >= 1000).map((e) => e.source!.file_id));
    expect(ids.size).toBe(1);
    expect(ids.has(evs[0]!.source!.file_id)).toBe(false);
  } finally {
    await c.stop({ drainMs: 0 });
  }
}

test("copytruncate + fast rewrite seen by a read before any scan: each line once, under the new id", async () => {
  await copytruncateBeforeScan("ct-scanned", true);
}, 60_000);

test("copytruncate + fast rewrite of a file that was empty at the last scan: no line lost", async () => {
  await copytruncateBeforeScan("ct-empty", false);
}, 60_000);
