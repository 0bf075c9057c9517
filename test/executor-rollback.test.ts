import { afterAll, beforeAll, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { createEmbeddedBroker } from "../broker/embedded/index.ts";
import type { Broker } from "../broker/types.ts";
import { newId } from "../core/ids.ts";
import { silentLogger } from "../core/log.ts";
import { backup, backupDir } from "../executor/backup.ts";
import { createLocalTransport } from "../executor/transport/local.ts";
import { startExecutors } from "../executor/worker.ts";
import { seedFix, sha256, testConfig, testPatterns, waitForStatus } from "./executor-fixtures.ts";
import {
  defaultNginxConfig,
  findProgram,
  type NginxServer,
  type SshdServer,
  startNginx,
  startSshd,
  tempDir,
} from "./harness/index.ts";

// A backed-up config FOLDER is put back exactly by a rollback and by the recovery of an
// interrupted run: same files, bytes, modes and owners, and files the fix added are gone. The
// folder is included by a real nginx, so a file left behind would also break `nginx -t`.
let nginx: NginxServer;
let sshd: SshdServer;
let broker: Broker;
let executors: { stop(): Promise<void> };
const tmp = tempDir("mcpmon-exec-rollback-");
const backups = join(tmp.path, "backups");
let confD: string;
let patterns: ReturnType<typeof testPatterns>;
const BROKEN = "this_is_not_a_directive on;\n";

beforeAll(async () => {
  [nginx, sshd] = await Promise.all([
    startNginx({
      // A glob that matches nothing is fine for nginx, so the folder can be made after start.
      config: (l) =>
        defaultNginxConfig(l).replace(
          "location / { index index.html; }",
          `location / { index index.html; }\n    include ${join(l.prefix, "conf", "conf.d")}/*.conf;`,
        ),
    }),
    startSshd({ user: "root" }),
  ]);
  confD = join(nginx.prefix, "conf", "conf.d");
  broker = createEmbeddedBroker({ path: ":memory:" });
  const bin = findProgram("nginx")!;
  const base = [bin, "-p", nginx.prefix, "-c", nginx.confPath, "-e", nginx.errorLog];
  patterns = testPatterns({
    webRoot: nginx.htmlRoot,
    httpPrefixes: [nginx.url("/")],
    confDir: join(nginx.prefix, "conf"),
    confChmod: true,
    validate: [...base, "-t"],
    reload: [...base, "-s", "reload"],
    configFiles: [nginx.confPath, confD],
    // notes.txt belongs to 4323:4321 below: group 4321 is the site's account here.
    owners: ["root", "www-data", "4321"],
  });
  const config = testConfig({
    processing: { fix_executors: 1, claim_idle_ms: 60_000 },
    ssh_settings: {
      private_key_path: sshd.clientKeyPath,
      known_hosts: join(tmp.path, "known_hosts"),
      // The recovery test waits command_timeout + 7 s before its rollback (see recover()).
      command_timeout: 10,
    },
    targets: { c1: { host: sshd.host, port: sshd.port, user: "root", host_key: sshd.hostKeyPub } },
    executor: { auto_approve_max_risk: "medium", backup_dir: backups },
  });
  executors = await startExecutors({ broker, config, patterns, log: silentLogger, blockMs: 200 });
}, 60_000);

afterAll(async () => {
  await executors?.stop();
  await broker?.close();
  await Promise.all([nginx?.stop(), sshd?.stop()]);
  tmp.cleanup();
}, 60_000);

/** A fresh conf.d with unusual modes and owners, a nested folder and a symlink; nginx serves /a. */
async function makeConfD(): Promise<void> {
  Bun.spawnSync(["rm", "-rf", "--", confD]);
  mkdirSync(join(confD, "sub"), { recursive: true });
  writeFileSync(join(confD, "a.conf"), 'location = /a { default_type text/plain; return 200 "a\\n"; }\n');
  writeFileSync(join(confD, "sub", "notes.txt"), "kept as it was\n");
  symlinkSync("../a.conf", join(confD, "sub", "link"));
  chmodSync(join(confD, "a.conf"), 0o640);
  chmodSync(join(confD, "sub", "notes.txt"), 0o600);
  chmodSync(join(confD, "sub"), 0o700);
  chmodSync(confD, 0o750);
  chownSync(join(confD, "a.conf"), 4321, 4322);
  chownSync(join(confD, "sub", "notes.txt"), 4323, 4321);
  lchownSync(join(confD, "sub", "link"), 4324, 4324);
  chownSync(confD, 4321, 4321);
  expect((await nginx.reload()).ok).toBe(true);
  expect(await served("/a")).toBe("a\n");
}

/** The body at `path` once the workers of the last reload answer (old ones linger a moment). */
async function served(path: string, want = "a\n"): Promise<string> {
  let body = "";
  for (let i = 0; i < 100 && body !== want; i++) {
    body = await (await fetch(nginx.url(path))).text();
    if (body !== want) await Bun.sleep(100);
  }
  return body;
}

/** Every entry under `dir`: relative path, type, mode, uid:gid, and sha256 or link target. */
function listing(dir: string, rel = "."): string[] {
  const path = rel === "." ? dir : join(dir, rel);
  const st = lstatSync(path);
  const what = st.isSymbolicLink()
    ? `-> ${readlinkSync(path)}`
    : st.isFile()
      ? sha256(readFileSync(path))
      : "dir";
  const line = `${rel} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${what}`;
  if (!st.isDirectory()) return [line];
  const children = readdirSync(path)
    .sort()
    .flatMap((n) => listing(dir, rel === "." ? n : join(rel, n)));
  return [line, ...children];
}

/** Names an interrupted or finished restore could leave beside the folder. */
const leftovers = () => readdirSync(join(nginx.prefix, "conf")).filter((n) => n.startsWith(".mcpmon"));

test("verify fails: a backed-up config folder is restored exactly, files the fix added are removed", async () => {
  await makeConfD();
  const before = listing(confD);
  const fix = await seedFix(broker, {
    approval: { by: "carol", at: new Date().toISOString() },
    actions: [
      // Changes an existing file, adds one (which `nginx -t` refuses), and changes a mode inside
      // the folder that no per-file backup covers.
      {
        type: "write_file",
        path: join(confD, "a.conf"),
        content: "location = /a { return 418; }\n",
      },
      { type: "write_file", path: join(confD, "zz-added.conf"), content: BROKEN },
      { type: "run", program: "chmod", args: ["644", join(confD, "sub", "notes.txt")] },
    ],
    verify: [{ type: "http", url: nginx.url("/a"), expect_status: 418 }],
    rollback: [{ type: "service", op: "reload" }],
  });
  const done = await waitForStatus(broker, fix.fix_id, ["fixed", "failed", "rolled_back", "refused"]);
  expect(done.status_reason).toMatch(/verify failed.*rolled back/);
  expect(done.status).toBe("rolled_back");
  expect(listing(confD)).toEqual(before);
  expect(leftovers()).toEqual([]);
  expect(
    done.steps.find((s) => s.phase === "restore" && s.description.includes(`folder ${confD}`))?.description,
  ).toContain("checksum, mode and owner match; files added since removed");
  expect(nginx.testConfig().ok).toBe(true);
  expect(await served("/a")).toBe("a\n");
}, 60_000);

test("an interrupted run is recovered from manifest.json: the config folder is restored exactly", async () => {
  await makeConfD();
  const before = listing(confD);
  // What the lost run left: a backup folder with its manifest, then changes to the live folder.
  const fixId = newId("fix_");
  const local = createLocalTransport();
  const saved = await backup(
    { transport: local, service: patterns.get("nginx")!, timeoutMs: 20_000 },
    backupDir(backups, fixId),
    [confD],
    async () => {},
  );
  expect(saved.ok).toBe(true);
  writeFileSync(join(confD, "a.conf"), "location = /a { return 418; }\n");
  writeFileSync(join(confD, "zz-added.conf"), BROKEN);
  mkdirSync(join(confD, "new-dir"));
  writeFileSync(join(confD, "new-dir", "x"), "x\n");
  chmodSync(confD, 0o755);
  chownSync(join(confD, "sub", "notes.txt"), 0, 0);
  expect(nginx.testConfig().ok).toBe(false);

  const fix = await seedFix(broker, {
    fix_id: fixId,
    interrupted: { executor: "exec-gone-1", token: 1 },
    approval: { by: "carol", at: new Date().toISOString() },
    actions: [{ type: "write_file", path: join(confD, "zz-added.conf"), content: BROKEN }],
  });
  const done = await waitForStatus(broker, fix.fix_id, ["fixed", "failed", "rolled_back", "refused"]);
  expect(done.status_reason).toMatch(/interrupted.*not re-run; rolled back/);
  expect(done.status).toBe("rolled_back");
  expect(listing(confD)).toEqual(before);
  expect(leftovers()).toEqual([]);
  expect(done.steps.find((s) => s.phase === "restore")?.description).toContain(
    "checksum, mode and owner match",
  );
  expect(nginx.testConfig().ok).toBe(true);
}, 60_000);
