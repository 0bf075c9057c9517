// Restarts of the collector (clean stops) around rotations and folds: what was written while it was
// away, or read but not yet final when it stopped, arrives exactly once.
import { afterAll, expect, test } from "bun:test";
import { appendFileSync, renameSync, writeFileSync } from "node:fs";
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

function start(name: string, file: string, over: Record<string, unknown> = {}) {
  const mb = memoryBroker();
  const config = clientConfig({
    client_id: name,
    log_paths: [file],
    state_dir: join(tmp.path, `state-${name}`),
    flood: { max_per_second: 1_000_000 },
    ...over,
  });
  const run = () => runCollector([config], { broker: mb.broker, patterns, tuning: { heartbeat: false } });
  const got = () => new Set(mb.events().map((e) => lineNo(e.fields.path)));
  return { mb, run, got };
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
