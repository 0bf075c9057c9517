import { afterAll, beforeAll, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { createEmbeddedBroker } from "../broker/embedded/index.ts";
import type { Broker } from "../broker/types.ts";
import { silentLogger } from "../core/log.ts";
import type { Fix } from "../core/schemas/fix.ts";
import { createLocalTransport } from "../executor/transport/local.ts";
import { createSshTransport } from "../executor/transport/ssh.ts";
import type { Transport } from "../executor/transport/types.ts";
import { startExecutors } from "../executor/worker.ts";
import { seedFix, sha256, testConfig, testPatterns, waitForStatus } from "./executor-fixtures.ts";
import { type SshdServer, startSshd, tempDir } from "./harness/index.ts";

// Paths checked earlier are never acted on later. Someone who can write under a web root can swap
// a file for a symlink between the executor's check and its action; chmod/chown must not follow
// it out of the root, and a write_file through a symlinked config (Debian's sites-enabled) must
// write the link's target with the target's mode, never replace the link with a 0777 file.
let sshd: SshdServer;
let broker: Broker;
let executors: { stop(): Promise<void> };
let ssh: Transport;
const tmp = tempDir("mcpmon-exec-symlink-");
const web = join(tmp.path, "www");
const conf = join(tmp.path, "conf");
const outside = join(tmp.path, "outside");
const secret = join(outside, "secret");
const FINAL = ["fixed", "failed", "rolled_back", "rollback_failed", "refused", "awaiting_approval"] as const;

/** Called with the argv of every command the executor runs over SSH, before it runs. */
let onExec: ((argv: string[]) => void) | undefined;

beforeAll(async () => {
  mkdirSync(web, { mode: 0o755 });
  mkdirSync(join(conf, "sites-available"), { recursive: true, mode: 0o755 });
  mkdirSync(join(conf, "sites-enabled"), { mode: 0o755 });
  mkdirSync(outside, { mode: 0o755 });
  writeFileSync(secret, "secret\n");
  sshd = await startSshd({ user: "root" });
  broker = createEmbeddedBroker({ path: ":memory:" });
  const config = testConfig({
    processing: { fix_executors: 1, claim_idle_ms: 60_000 },
    ssh_settings: {
      private_key_path: sshd.clientKeyPath,
      known_hosts: join(tmp.path, "known_hosts"),
      command_timeout: 20,
    },
    executor: { auto_approve_max_risk: "medium", backup_dir: join(tmp.path, "backups") },
  });
  const real = createSshTransport({
    host: sshd.host,
    port: sshd.port,
    user: "root",
    privateKey: sshd.clientKey,
    hostKey: sshd.hostKeyPub,
  });
  ssh = {
    target: real.target,
    exec: async (argv, o) => {
      onExec?.(argv);
      return await real.exec(argv, o);
    },
    readFile: (p) => real.readFile(p),
    writeFile: async (p, d, o) => {
      onExec?.(["writeFile", p]);
      return await real.writeFile(p, d, o);
    },
    stat: (p) => real.stat(p),
    realpath: (p) => real.realpath(p),
    httpGet: (u, t) => real.httpGet(u, t),
    close: () => real.close(),
  };
  const local = createLocalTransport({ defaultTimeoutMs: 20_000 });
  executors = await startExecutors({
    broker,
    config,
    patterns: testPatterns({ webRoot: web, confDir: conf }),
    transports: (fix) => (fix.client_id === "local" ? local : ssh),
    log: silentLogger,
    blockMs: 100,
  });
}, 60_000);

afterAll(async () => {
  await executors?.stop();
  await ssh?.close();
  await broker?.close();
  await sshd?.stop();
  tmp.cleanup();
}, 60_000);

/** The secret outside the root, as the tests expect it to stay: 0600, root's, same bytes. */
function resetSecret(): void {
  writeFileSync(secret, "secret\n");
  chmodSync(secret, 0o600);
  chownSync(secret, 0, 0);
}
function expectSecretUntouched(): void {
  const st = statSync(secret);
  expect({ mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, body: readFileSync(secret, "utf8") }).toEqual({
    mode: 0o600,
    uid: 0,
    gid: 0,
    body: "secret\n",
  });
}

async function runFix(input: Parameters<typeof seedFix>[1]): Promise<Fix> {
  const fix = await seedFix(broker, input);
  return await waitForStatus(broker, fix.fix_id, [...FINAL]);
}

/** Replace `path` by a symlink to the secret the first time a command naming `program` and `path` runs. */
function swapToSymlinkBefore(program: string, path: string): () => boolean {
  let swapped = false;
  onExec = (argv) => {
    if (swapped || !argv.includes(program) || !argv.includes(path)) return;
    swapped = true;
    onExec = undefined;
    rmSync(path, { force: true });
    symlinkSync(secret, path);
  };
  return () => swapped;
}

test("chmod and chown on a file that became a symlink after the check: refused at action time, the file outside the root is unchanged", async () => {
  for (const [program, value] of [
    ["chmod", "644"],
    ["chown", "www-data"],
  ] as const) {
    resetSecret();
    const file = join(web, `swap-${program}.png`);
    writeFileSync(file, "png\n", { mode: 0o600 });
    const swapped = swapToSymlinkBefore(program, file);
    const done = await runFix({ actions: [{ type: "run", program, args: [value, file] }] });
    expect(swapped()).toBe(true);
    expect(lstatSync(file).isSymbolicLink()).toBe(true);
    expectSecretUntouched();
    // Refused by the helper before anything changed: the fix says so, nothing to roll back.
    expect(done.status).toBe("refused");
    const action = done.steps.find((s) => s.phase === "action");
    expect(action?.ok).toBe(false);
    expect(action?.stderr).toMatch(/symlink/);
    rmSync(file);
  }
}, 60_000);

test("chmod and chown of a normal file and a folder below the root still work", async () => {
  const file = join(web, "plain.png");
  writeFileSync(file, "png\n", { mode: 0o600 });
  chmodSync(file, 0o600);
  const dir = join(web, "assets");
  mkdirSync(dir, { mode: 0o700 });
  chmodSync(dir, 0o700);
  const done = await runFix({
    actions: [
      { type: "run", program: "chmod", args: ["644", file] },
      { type: "run", program: "chown", args: ["www-data:www-data", file] },
      { type: "run", program: "chmod", args: ["755", dir] },
      { type: "run", program: "chown", args: ["nobody", dir] },
    ],
  });
  expect(done.status_reason).toContain("applied and verified");
  expect(done.status).toBe("fixed");
  const f = statSync(file);
  expect([f.mode & 0o7777, f.uid, f.gid]).toEqual([0o644, 33, 33]);
  const d = statSync(dir);
  expect([d.mode & 0o7777, d.uid, d.gid]).toEqual([0o755, 65534, 0]);
}, 60_000);

test("a file flipping between a file and a symlink outside the root while fixes run: the outside file never changes", async () => {
  for (const client of ["local", "c1"]) {
    resetSecret();
    const file = join(web, `race-${client}.png`);
    const stop = join(tmp.path, `stop-${client}`);
    writeFileSync(file, "png\n", { mode: 0o600 });
    // The reviewer's loop: rename a fresh file or a symlink to the secret over the name, forever.
    const flipper = Bun.spawn(
      [
        "perl",
        "-e",
        'my ($f, $t, $stop) = @ARGV; my $i = 0; until (-e $stop) { if ($i++ % 2) { symlink($t, "$f.l"); rename("$f.l", $f) } else { open(my $h, ">", "$f.f") or die; close $h; chmod 0600, "$f.f"; rename("$f.f", $f) } select(undef, undef, undef, 0.0003) }',
        "--",
        file,
        secret,
        stop,
      ],
      { stdout: "ignore", stderr: "inherit" },
    );
    let acted = 0;
    try {
      for (let i = 0; i < 30; i++) {
        const [program, value] = i % 2 ? ["chown", "www-data"] : ["chmod", "644"];
        const done = await runFix({
          client_id: client,
          actions: [{ type: "run", program, args: [value, file] }],
        });
        if (done.steps.some((s) => s.phase === "action")) acted++;
        expectSecretUntouched();
      }
    } finally {
      writeFileSync(stop, "");
      await flipper.exited;
    }
    expectSecretUntouched();
    // The race was really run: some fixes got past the check on the host and reached the action.
    expect(acted).toBeGreaterThan(0);
  }
}, 120_000);

test("write_file through a symlinked config over SSH: the link stays a link, its target gets the content with its own mode and owner", async () => {
  const target = join(conf, "sites-available", "default");
  const link = join(conf, "sites-enabled", "default");
  writeFileSync(target, "server { listen 80; }\n");
  chmodSync(target, 0o644);
  chownSync(target, 4321, 4322);
  symlinkSync("../sites-available/default", link);
  const content = "server { listen 8080; }\n";
  const done = await runFix({ actions: [{ type: "write_file", path: link, content }] });
  expect(done.status).toBe("fixed");
  expect(lstatSync(link).isSymbolicLink()).toBe(true);
  expect(readlinkSync(link)).toBe("../sites-available/default");
  expect(readFileSync(target, "utf8")).toBe(content);
  const st = statSync(target);
  expect([st.mode & 0o7777, st.uid, st.gid]).toEqual([0o644, 4321, 4322]);
  expect(done.steps.find((s) => s.phase === "action")?.description).toContain(target);
  expect(readdirSync(join(conf, "sites-enabled")).filter((n) => n.startsWith(".mcpmon"))).toEqual([]);
  expect(readdirSync(join(conf, "sites-available")).filter((n) => n.startsWith(".mcpmon"))).toEqual([]);

  // A world-writable file keeps its owner but loses the group/other write bits it would inherit.
  const loose = join(conf, "loose.conf");
  writeFileSync(loose, "a\n");
  chmodSync(loose, 0o666);
  const d2 = await runFix({ actions: [{ type: "write_file", path: loose, content: "b\n" }] });
  expect(d2.status).toBe("fixed");
  expect(statSync(loose).mode & 0o7777).toBe(0o644);
  // An explicit mode (checked by the policy) is applied as given.
  const d3 = await runFix({ actions: [{ type: "write_file", path: loose, content: "c\n", mode: "0640" }] });
  expect(d3.status).toBe("fixed");
  expect(statSync(loose).mode & 0o7777).toBe(0o640);
}, 60_000);

test("a failed fix through a symlinked config restores the link's target, and the link stays a link", async () => {
  const target = join(conf, "sites-available", "shop");
  const link = join(conf, "sites-enabled", "shop");
  writeFileSync(target, "server { listen 81; }\n");
  chmodSync(target, 0o640);
  chownSync(target, 4321, 4322);
  symlinkSync(target, link);
  const before = sha256(readFileSync(target));
  const done = await runFix({
    actions: [{ type: "write_file", path: link, content: "broken\n" }],
    verify: [{ type: "run", program: "sleep", args: ["1"], expect_exit: 7 }],
  });
  expect(done.status_reason).toMatch(/verify failed.*rolled back/);
  expect(done.status).toBe("rolled_back");
  expect(lstatSync(link).isSymbolicLink()).toBe(true);
  expect(sha256(readFileSync(target))).toBe(before);
  const st = statSync(target);
  expect([st.mode & 0o7777, st.uid, st.gid]).toEqual([0o640, 4321, 4322]);
}, 60_000);

test("a config swapped for a symlink out of the roots just before the write: refused on the host, nothing written outside", async () => {
  resetSecret();
  const file = join(conf, "swap.conf");
  writeFileSync(file, "x\n", { mode: 0o644 });
  let swapped = false;
  onExec = (argv) => {
    // The write itself (content on stdin), not the backup's `cp -a`, which names the path too.
    if (swapped || !argv.includes(file) || argv.includes("cp") || argv.includes("realpath")) return;
    if (!argv.some((a) => a.includes("write"))) return;
    swapped = true;
    onExec = undefined;
    rmSync(file);
    symlinkSync(secret, file);
  };
  const done = await runFix({
    actions: [{ type: "write_file", path: file, content: "pwned\n", mode: "0644" }],
  });
  expect(swapped).toBe(true);
  expect(done.status).toBe("refused");
  expectSecretUntouched();
  expect(done.steps.find((s) => s.phase === "action")?.ok).toBe(false);
}, 60_000);

test("a rollback that cannot put a mode back says so: rollback_failed naming what remains, never rolled_back", async () => {
  resetSecret();
  const file = join(web, "undo.png");
  writeFileSync(file, "png\n");
  chmodSync(file, 0o600);
  // The file is swapped for a symlink to a file outside the root just before its mode is put back.
  const swapped = swapToSymlinkBefore("restore", file);
  const done = await runFix({
    actions: [{ type: "run", program: "chmod", args: ["644", file] }],
    // A verify step that fails (timed out), so the fix is rolled back.
    verify: [{ type: "run", program: "sleep", args: ["5"], timeout_s: 1 }],
  });
  expect(swapped()).toBe(true);
  expectSecretUntouched();
  expect(done.status).toBe("rollback_failed");
  expect(done.status_reason).toContain(`not undone: restore mode 0600 and owner 0:0 of ${file}`);
  rmSync(file);
}, 60_000);
