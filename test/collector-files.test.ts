// Files as operators meet them: a log the collector may not open (logged once, counted at every
// poll, followed as soon as it becomes readable), a file renamed within the globs (events name
// where it is now), and spool sizes in bytes.
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { appendFileSync, chmodSync, chownSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCollector } from "../collector/index.ts";
import { loadPatternsDir } from "../core/patterns/load.ts";
import { clientConfig, memoryBroker, nginxLine, until } from "./fixtures/collector-util.ts";
import { tempDir } from "./harness/index.ts";

setDefaultTimeout(60_000);

const tmp = tempDir("mcpmon-files-");
afterAll(() => tmp.cleanup());
const patterns = loadPatternsDir(join(import.meta.dir, "../patterns"));
const root = join(import.meta.dir, "..");

/**
 * The collector as `nobody` (root reads every file, so only an unprivileged process meets EACCES):
 * its warnings go to stderr as JSON lines; each line written to its stdin is answered with the
 * counters and the shipped events.
 */
const CHILD = `
import { runCollector } from "${root}/collector/index.ts";
import { createLogger } from "${root}/core/log.ts";
import { loadPatternsDir } from "${root}/core/patterns/load.ts";
import { clientConfig, memoryBroker } from "${root}/test/fixtures/collector-util.ts";
const mb = memoryBroker();
const c = await runCollector(
  [clientConfig({ client_id: "nobody", log_paths: [process.env.GLOB], state_dir: process.env.STATE, poll_interval_ms: 20 })],
  { broker: mb.broker, patterns: loadPatternsDir("${root}/patterns"), log: createLogger({ level: "warn", pretty: false }), tuning: { heartbeat: false } },
);
process.stdout.write("ready\\n");
for await (const line of console) {
  if (line === "stop") break;
  const st = c.status().clients[0];
  process.stdout.write(JSON.stringify({ counters: st.counters, events: mb.events().length }) + "\\n");
}
await c.stop({ drainMs: 0 });
`;

test("a file the collector cannot open is logged once per change, counted at every poll, read once allowed", async () => {
  const dir = join(tmp.path, "unreadable");
  const state = join(tmp.path, "unreadable-state");
  mkdirSync(dir);
  mkdirSync(state);
  chmodSync(tmp.path, 0o755);
  chownSync(state, 65534, 65534);
  const file = join(dir, "app.log");
  writeFileSync(file, `${nginxLine(1, true)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);

  const child = Bun.spawn(
    ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", process.execPath, "-e", CHILD],
    {
      env: { ...process.env, GLOB: join(dir, "*.log"), STATE: state },
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  let stderr = "";
  void (async () => {
    for await (const chunk of child.stderr) stderr += new TextDecoder().decode(chunk);
  })();
  const out = child.stdout.getReader();
  let buf = "";
  const nextLine = async () => {
    while (!buf.includes("\n")) {
      const { value, done } = await out.read();
      if (done) throw new Error(`collector exited: ${stderr}`);
      buf += new TextDecoder().decode(value);
    }
    const i = buf.indexOf("\n");
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    return line;
  };
  const status = async () => {
    child.stdin.write("?\n");
    child.stdin.flush();
    return JSON.parse(await nextLine()) as { counters: Record<string, number>; events: number };
  };
  const logged = () => stderr.split("\n").filter((l) => l.includes("cannot read file")).length;
  try {
    expect(await nextLine()).toBe("ready");
    await until("several failed polls", async () => (await status()).counters.read_errors! >= 5);
    expect(logged()).toBe(1);
    expect(stderr).toContain("EACCES");

    // Another mode, still unreadable for nobody: a change worth one more line.
    chmodSync(file, 0o660);
    const before = (await status()).counters.read_errors!;
    await until("more failed polls", async () => (await status()).counters.read_errors! >= before + 5);
    expect(logged()).toBe(2);

    chmodSync(file, 0o644);
    await until("the line shipped once readable", async () => (await status()).events === 1);
    const after = (await status()).counters;
    expect(after).toMatchObject({ files_opened: 1, matched: 1 });
    expect(logged()).toBe(2);
  } finally {
    child.stdin.write("stop\n");
    child.stdin.flush();
    await child.exited;
  }
});

test("after a rename within the globs, events report the file's current path", async () => {
  const dir = join(tmp.path, "renamed");
  mkdirSync(dir);
  const first = join(dir, "app.log");
  const moved = join(dir, "app-1.log");
  writeFileSync(first, `${nginxLine(1, true)}\n`);
  const mb = memoryBroker();
  const c = await runCollector(
    [
      clientConfig({
        client_id: "renamed",
        log_paths: [join(dir, "*.log")],
        state_dir: join(tmp.path, "renamed-state"),
      }),
    ],
    { broker: mb.broker, patterns, tuning: { heartbeat: false } },
  );
  try {
    await until("the first event", () => mb.events().length === 1);
    renameSync(first, moved);
    await until("the rename seen", () => c.status().clients[0]!.files[0]?.path === moved);
    // The writer still holds the old descriptor: its next line lands in the renamed file.
    appendFileSync(moved, `${nginxLine(2, true)}\n`);
    await until("the second event", () => mb.events().length === 2);
    const [a, b] = mb.events();
    expect(a!.source).toMatchObject({ path: first });
    expect(b!.source).toMatchObject({ path: moved, file_id: a!.source!.file_id });
  } finally {
    await c.stop({ drainMs: 0 });
  }
});

test("spool size is counted in bytes, not characters", async () => {
  const file = join(tmp.path, "utf8.log");
  // Two-byte characters in the message: bytes and characters differ.
  writeFileSync(file, `${nginxLine(1, true).replace("example.com", "exämple-ßüö.com")}\n`);
  const mb = memoryBroker();
  mb.state.down = true;
  const c = await runCollector(
    [clientConfig({ client_id: "bytes", log_paths: [file], state_dir: join(tmp.path, "bytes-state") })],
    { broker: mb.broker, patterns, tuning: { heartbeat: false } },
  );
  try {
    await until("the event spooled", () => c.status().clients[0]!.spool_depth === 1);
    const st = c.status().clients[0]!;
    mb.state.down = false;
    await until("the event shipped", () => mb.entries.length === 1);
    const data = mb.entries[0]!.data!;
    expect(data.length).toBeLessThan(Buffer.byteLength(data));
    expect(st.spool_bytes).toBe(Buffer.byteLength(data));
  } finally {
    await c.stop({ drainMs: 0 });
  }
});
