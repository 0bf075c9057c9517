// Hostile input on real files: a 10 MB line, binary garbage, invalid UTF-8, a file deleted while
// it is read, a glob that matches nothing yet. None of them stops a matching line from arriving.
import { afterAll, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { appendFileSync, mkdirSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCollector } from "../collector/index.ts";
import { loadPatternsDir } from "../core/patterns/load.ts";
import { clientConfig, memoryBroker, nginxLine, until } from "./fixtures/collector-util.ts";
import { tempDir } from "./harness/index.ts";

const tmp = tempDir("mcpmon-edge-");
afterAll(() => tmp.cleanup());
const patterns = loadPatternsDir(join(import.meta.dir, "../patterns"));

async function collect(name: string, logPaths: string[], over: Record<string, unknown> = {}) {
  const mb = memoryBroker();
  const c = await runCollector(
    [
      clientConfig({
        client_id: name,
        log_paths: logPaths,
        state_dir: join(tmp.path, `state-${name}`),
        flood: { max_per_second: 1_000_000 },
        ...over,
      }),
    ],
    { broker: mb.broker, patterns, tuning: { heartbeat: false, rotateWaitMs: 100 } },
  );
  const paths = () => new Set(mb.events().map((e) => e.fields.path));
  return { mb, c, paths };
}

test("a 10 MB line (matching or not), binary garbage and invalid UTF-8 break nothing", async () => {
  const file = join(tmp.path, "hostile.log");
  const huge = `${nginxLine(1, true)} ${"A".repeat(10 * 1024 * 1024)}`;
  const garbage = randomBytes(1 << 20); // NULs, stray newlines, invalid UTF-8 at random
  const badUtf8 = Buffer.concat([
    Buffer.from('2026/11/24 01:02:03 [crit] 1234#1234: *9 open() "/var/www/html/caf'),
    Buffer.from([0xe9, 0xff, 0xc3]),
    Buffer.from('.html" failed (13: Permission denied), client: 10.0.0.1, server: x\n'),
  ]);
  writeFileSync(file, "");
  const { mb, c, paths } = await collect("hostile", [file], { max_line_bytes: 4096 });
  try {
    appendFileSync(file, `${nginxLine(0, true)}\n${"B".repeat(10 * 1024 * 1024)}\n${huge}\n`);
    appendFileSync(file, garbage);
    appendFileSync(file, Buffer.concat([Buffer.from(`\n${nginxLine(2, true)}\n`), badUtf8]));
    appendFileSync(file, `${nginxLine(3, true)}\n`);
    await until("the lines after the garbage", () => paths().has("/var/www/html/f3.html"));
    const evs = mb.events();
    // A cut record cannot be shown to be a whole permission error (client text could have pushed
    // nginx's own end of the line out), so it is shipped without a path that a fix could chmod.
    const big = evs.find((e) => e.pattern_id === "nginx-permission-denied-ambiguous")!;
    expect(big.message).toContain('open() "/var/www/html/f1.html" failed (13: Permission denied)');
    expect(big.fields).toEqual({});
    expect(big.truncated).toBe(true);
    expect(big.message.length).toBeLessThanOrEqual(4096);
    expect(paths().has("/var/www/html/f0.html")).toBe(true);
    expect(paths().has("/var/www/html/f2.html")).toBe(true);
    const bad = evs.find((e) => e.fields.path?.startsWith("/var/www/html/caf"))!;
    expect(bad.message).toContain("\ufffd");
    expect(c.status().clients[0]!.counters.truncated_lines).toBeGreaterThanOrEqual(2);
  } finally {
    await c.stop({ drainMs: 0 });
  }
}, 60_000);

test("a file deleted while it is read is drained through its open descriptor", async () => {
  const file = join(tmp.path, "doomed.log");
  const lines: string[] = [];
  for (let i = 0; i < 50_000; i++) lines.push(nginxLine(i, i % 100 === 0));
  writeFileSync(file, `${lines.join("\n")}\n`);
  const { c, paths } = await collect("doomed", [file]);
  try {
    // The collector has opened the file (first scan) but the loop has not read it yet.
    unlinkSync(file);
    await until("all 500 error lines of the deleted file", () => paths().size === 500);
    await until("the deleted file closed", () => c.status().clients[0]!.counters.files_closed === 1);
    expect(c.status().clients[0]!.files).toEqual([]);
  } finally {
    await c.stop({ drainMs: 0 });
  }
}, 60_000);

test("a glob that matches nothing yet (folder missing) picks the file up when it appears", async () => {
  const dir = join(tmp.path, "later", "logs");
  const { c, paths } = await collect("later", [join(dir, "*.log")], { read_from: "end" });
  try {
    await Bun.sleep(100);
    expect(c.status().clients[0]!.files).toEqual([]);
    mkdirSync(dir, { recursive: true });
    // Appeared after the start: read from its beginning even with read_from: end.
    writeFileSync(join(dir, "site.log"), `${nginxLine(0, false)}\n${nginxLine(1, true)}\n`);
    await until("the new file's error line", () => paths().has("/var/www/html/f1.html"));
  } finally {
    await c.stop({ drainMs: 0 });
  }
}, 60_000);

test("read_from: end skips what a file held at the first start, but not what a restart finds", async () => {
  const file = join(tmp.path, "old.log");
  writeFileSync(file, `${nginxLine(0, true)}\n`);
  const first = await collect("fromend", [file], { read_from: "end" });
  appendFileSync(file, `${nginxLine(1, true)}\n`);
  await until("line 1", () => first.paths().has("/var/www/html/f1.html"));
  await first.c.stop({ drainMs: 0 });
  expect(first.paths().has("/var/www/html/f0.html")).toBe(false);
  // Written while the collector is down: read at the next start from the checkpoint.
  appendFileSync(file, `${nginxLine(2, true)}\n`);
  const second = await collect("fromend", [file], { read_from: "end" });
  try {
    await until("line 2", () => second.paths().has("/var/www/html/f2.html"));
    expect(second.paths().has("/var/www/html/f1.html")).toBe(false);
  } finally {
    await second.c.stop({ drainMs: 0 });
  }
}, 60_000);

test("a log reached through a symlink matched by a glob is read, once, though its target matches too", async () => {
  const dir = join(tmp.path, "links");
  mkdirSync(dir);
  const target = join(dir, "app-1.log");
  writeFileSync(target, `${nginxLine(0, true)}\n`);
  symlinkSync(target, join(dir, "current.log"));
  const only = await collect("symlink-only", [join(dir, "current*.log")]);
  const both = await collect("symlink-both", [join(dir, "*.log")]);
  try {
    appendFileSync(target, `${nginxLine(1, true)}\n`);
    for (const c of [only, both]) await until("both lines", () => c.paths().has("/var/www/html/f1.html"));
    expect(only.mb.events().map((e) => e.source!.path)).toEqual([
      join(dir, "current.log"),
      join(dir, "current.log"),
    ]);
    // Keyed by the target's dev:ino: one file, named by its first path (sorted).
    expect(both.mb.events().map((e) => e.source!.path)).toEqual([target, target]);
  } finally {
    await only.c.stop({ drainMs: 0 });
    await both.c.stop({ drainMs: 0 });
  }
}, 60_000);
