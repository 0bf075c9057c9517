import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createEmbeddedBroker } from "../broker/embedded/index.ts";
import type { Broker } from "../broker/types.ts";
import { silentLogger } from "../core/log.ts";
import { loadPatternsFile } from "../core/patterns/load.ts";
import type { Fix } from "../core/schemas/fix.ts";
import { resolveTransport, startExecutors } from "../executor/worker.ts";
import {
  getIncident,
  seedFix,
  sha256,
  testConfig,
  testPatterns,
  waitForStatus,
} from "./executor-fixtures.ts";
import {
  findProgram,
  type NginxServer,
  type SshdServer,
  startNginx,
  startSshd,
  tempDir,
} from "./harness/index.ts";

// Real nginx (as root, from its own prefix) fixed over a real sshd with a pinned host key. The SSH
// user is root because reloading a root nginx needs it, as it would on a host without sudo.
// `daemon` stands in for the deploy user: the site's account the policy's targets name.
const DEPLOY = { name: "daemon", uid: 1, gid: 1 };
let nginx: NginxServer;
let sshd: SshdServer;
let broker: Broker;
let executors: { stop(): Promise<void> };
const tmp = tempDir("mcpmon-exec-nginx-");

beforeAll(async () => {
  [nginx, sshd] = await Promise.all([startNginx(), startSshd({ user: "root" })]);
  broker = createEmbeddedBroker({ path: ":memory:" });
  const bin = findProgram("nginx")!;
  const base = [bin, "-p", nginx.prefix, "-c", nginx.confPath, "-e", nginx.errorLog];
  const patterns = testPatterns({
    webRoot: nginx.htmlRoot,
    httpPrefixes: [nginx.url("/")],
    confDir: join(nginx.prefix, "conf"),
    validate: [...base, "-t"],
    reload: [...base, "-s", "reload"],
    configFiles: [nginx.confPath],
    owners: ["www-data", DEPLOY.name],
    content: loadPatternsFile(join(import.meta.dir, "..", "patterns", "nginx.yml")).spec.policy.content,
  });
  const config = testConfig({
    processing: { fix_executors: 1, claim_idle_ms: 60_000 },
    ssh_settings: {
      private_key_path: sshd.clientKeyPath,
      known_hosts: join(tmp.path, "known_hosts"),
      command_timeout: 20,
    },
    targets: { c1: { host: sshd.host, port: sshd.port, user: "root", host_key: sshd.hostKeyPub } },
    executor: { auto_approve_max_risk: "low", backup_dir: join(tmp.path, "backups") },
  });
  executors = await startExecutors({ broker, config, patterns, log: silentLogger, blockMs: 200 });
}, 60_000);

afterAll(async () => {
  await executors?.stop();
  await broker?.close();
  await Promise.all([nginx?.stop(), sshd?.stop()]);
  tmp.cleanup();
}, 60_000);

const FINAL = ["fixed", "failed", "rolled_back", "refused", "awaiting_approval"] as const;
const modeOf = (p: string) => statSync(p).mode & 0o7777;

test("permission denied on a page the deploy user locked by mistake: the low-risk fix runs by itself and nginx serves it", async () => {
  const file = join(nginx.htmlRoot, "team.png");
  writeFileSync(file, "not really a png\n", { mode: 0o600 });
  chmodSync(file, 0o600);
  chownSync(file, DEPLOY.uid, DEPLOY.gid);
  expect((await fetch(nginx.url("/team.png"))).status).toBe(403);

  const fix = await seedFix(broker, {
    preconditions: [{ type: "http", url: nginx.url("/team.png"), expect_status: 403 }],
    actions: [{ type: "run", program: "chmod", args: ["644", file] }],
    verify: [{ type: "http", url: nginx.url("/team.png"), expect_status: 200 }],
  });
  const done = await waitForStatus(broker, fix.fix_id, [...FINAL]);
  expect(done.status_reason).toContain("applied and verified");
  expect(done.status).toBe("fixed");
  expect(done.run?.executor).toBeString();
  expect(done.steps.map((s) => s.phase)).toEqual(["precondition", "backup", "action", "verify", "validate"]);
  const res = await fetch(nginx.url("/team.png"));
  expect(res.status).toBe(200);
  expect(await res.text()).toBe("not really a png\n");
  const incident = await getIncident(broker, fix.incident_id);
  expect(incident.status).toBe("fixed");
  expect(incident.fixed_at).toHaveLength(1);
  const events = (await broker.range(broker.keys.events)).map((e) =>
    JSON.parse(e.fields.data ?? e.fields.event ?? "{}"),
  );
  expect(
    events.some((e) => e.type === "fix.status" && e.subject === fix.fix_id && e.data.status === "fixed"),
  ).toBe(true);
}, 60_000);

test("a root-owned 600 file is not the site's: the chmod is refused on the host and nginx still refuses to serve it", async () => {
  for (const [name, reason] of [
    ["about.html", "belongs to root:root, not to one of the site's accounts"],
    ["secret.html", 'looks protected on purpose ("secret.html"'],
  ]) {
    const file = join(nginx.htmlRoot, name!);
    writeFileSync(file, "<p>now you see me</p>\n", { mode: 0o600 });
    chmodSync(file, 0o600);
    chownSync(file, 0, 0);
    expect((await fetch(nginx.url(`/${name}`))).status).toBe(403);
    const fix = await seedFix(broker, { actions: [{ type: "run", program: "chmod", args: ["644", file] }] });
    const done = await waitForStatus(broker, fix.fix_id, [...FINAL]);
    expect(done.status).toBe("refused");
    expect(done.status_reason).toContain(reason!);
    expect(modeOf(file)).toBe(0o600);
    expect((await fetch(nginx.url(`/${name}`))).status).toBe(403);
  }
}, 60_000);

test("files protected on purpose stay closed even when the site owns them: .env, .git/config, keys, dumps, credentials", async () => {
  const cases: Array<[string, string]> = [
    [".env", "DB_PASSWORD=hunter2\n"],
    [".git/config", "[core]\n"],
    ["ssl/site.key", "-----BEGIN PRIVATE KEY-----\nMIIB\n"],
    ["backup.sql", "INSERT INTO users VALUES (1);\n"],
    ["wp-config.php", "<?php define('DB_NAME', 'wp');\n"],
    // A plain name whose content holds a credential: refused by the host helper's content check.
    ["settings.txt", "api_key = 3f9a1c0b77aa\n"],
  ];
  for (const [rel, content] of cases) {
    const file = join(nginx.htmlRoot, rel);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content, { mode: 0o600 });
    chownSync(file, DEPLOY.uid, DEPLOY.gid);
    expect((await fetch(nginx.url(`/${rel}`))).status).toBe(403);
    const fix = await seedFix(broker, { actions: [{ type: "run", program: "chmod", args: ["644", file] }] });
    const done = await waitForStatus(broker, fix.fix_id, [...FINAL]);
    expect([rel, done.status]).toEqual([rel, "refused"]);
    expect(done.status_reason).toMatch(/looks protected on purpose|holds what looks like a credential/);
    expect(modeOf(file)).toBe(0o600);
    expect((await fetch(nginx.url(`/${rel}`))).status).toBe(403);
  }
}, 120_000);

test("a file rule never changes a folder, and no chmod may set a set-id or sticky bit", async () => {
  const dir = join(nginx.htmlRoot, "assets");
  mkdirSync(dir, { recursive: true });
  chownSync(dir, DEPLOY.uid, DEPLOY.gid);
  chmodSync(dir, 0o700);
  const fix = await seedFix(broker, { actions: [{ type: "run", program: "chmod", args: ["644", dir] }] });
  const done = await waitForStatus(broker, fix.fix_id, [...FINAL]);
  expect(done.status).toBe("refused");
  expect(done.status_reason).toContain("is a folder; this rule applies to files only");
  expect(modeOf(dir)).toBe(0o700);
}, 60_000);

test("medium-risk client_max_body_size change waits for approval, then runs with it: nginx -t, reload, bigger upload accepted", async () => {
  const big = "x".repeat(4096);
  const upload = () => fetch(nginx.url("/upload"), { method: "POST", body: big }).then((r) => r.status);
  expect(await upload()).toBe(413);
  const before = readFileSync(nginx.confPath, "utf8");
  const content = before.replace("client_max_body_size 1k;", "client_max_body_size 10m;");
  expect(content).not.toBe(before);
  const proposal = {
    risk: "low" as const, // the claim is low; the policy rule for config writes says medium
    actions: [
      { type: "write_file", path: nginx.confPath, content, mode: "0644" },
      { type: "service", op: "reload" },
    ],
    verify: [{ type: "http", url: nginx.url("/status"), expect_status: 200 }],
  };
  const unapproved = await seedFix(broker, proposal);
  const parked = await waitForStatus(broker, unapproved.fix_id, [
    "awaiting_approval",
    "fixed",
    "failed",
    "refused",
  ]);
  expect(parked.status).toBe("awaiting_approval");
  expect(parked.status_reason).toMatch(/risk medium .*no approval/);
  expect(readFileSync(nginx.confPath, "utf8")).toBe(before);

  const approval = { by: "alice", at: new Date().toISOString(), note: "uploads of 5 MB are legitimate" };
  const fix = await seedFix(broker, { ...proposal, approval });
  const done = await waitForStatus(broker, fix.fix_id, ["fixed", "failed", "rolled_back", "refused"]);
  expect(done.status).toBe("fixed");
  expect(done.risk).toBe("medium");
  expect(done.approval).toEqual(approval);
  expect(done.steps.some((s) => s.phase === "validate" && s.ok && s.description.includes("-t"))).toBe(true);
  expect(readFileSync(nginx.confPath, "utf8")).toBe(content);
  // `nginx -s reload` returns before the new workers take over.
  let status = 0;
  for (let i = 0; i < 100 && status !== 200; i++) {
    status = await upload();
    if (status !== 200) await Bun.sleep(100);
  }
  expect(status).toBe(200);
}, 60_000);

test("verify fails: the rollback restores the config byte for byte with mode and owner, and nginx still serves", async () => {
  chownSync(nginx.confPath, 4321, 4321);
  chmodSync(nginx.confPath, 0o640);
  const before = readFileSync(nginx.confPath);
  const st = statSync(nginx.confPath);
  const changed = before
    .toString()
    .replace("location = /status", "location = /teapot { return 204; }\n    location = /status");
  const fix = await seedFix(broker, {
    approval: { by: "bob", at: new Date().toISOString() },
    actions: [
      { type: "write_file", path: nginx.confPath, content: changed },
      { type: "service", op: "reload" },
    ],
    verify: [{ type: "http", url: nginx.url("/teapot"), expect_status: 418 }],
    rollback: [{ type: "service", op: "reload" }],
  });
  const done = await waitForStatus(broker, fix.fix_id, ["fixed", "failed", "rolled_back", "refused"]);
  expect(done.status_reason).toMatch(/verify failed.*rolled back/);
  expect(done.status).toBe("rolled_back");
  const after = statSync(nginx.confPath);
  expect(sha256(readFileSync(nginx.confPath))).toBe(sha256(before));
  expect([after.mode & 0o7777, after.uid, after.gid]).toEqual([st.mode & 0o7777, 4321, 4321]);
  expect(done.steps.find((s) => s.phase === "restore")?.description).toContain(
    "checksum, mode and owner match",
  );
  expect(existsSync(join(tmp.path, "backups", fix.fix_id, "manifest.json"))).toBe(true);
  expect((await fetch(nginx.url("/"))).status).toBe(200);
  expect(nginx.testConfig().ok).toBe(true);
  expect((await getIncident(broker, fix.incident_id)).status).toBe("rolled_back");
}, 60_000);

test("dry run records the plan and runs nothing", async () => {
  const file = join(nginx.htmlRoot, "dry.html");
  writeFileSync(file, "dry\n", { mode: 0o600 });
  const fix = await seedFix(broker, {
    dry_run: true,
    actions: [{ type: "run", program: "chmod", args: ["644", file] }],
  });
  const done = await waitForStatus(broker, fix.fix_id, ["dry_run", "fixed", "failed", "refused"]);
  expect(done.status).toBe("dry_run");
  expect(done.steps[0]?.description).toBe(`plan: run chmod 644 ${file}`);
  expect(done.dry_run).toBe(true);
  expect(statSync(file).mode & 0o777).toBe(0o600);
  // Its incident does not stay queued: a person decides what to run.
  const incident = await getIncident(broker, fix.incident_id);
  expect([incident.status, incident.status_reason]).toEqual([
    "needs_human",
    `fix ${fix.fix_id} was a dry run: its plan is recorded, nothing was run`,
  ]);
}, 60_000);

test("an approved config change that adds load_module is refused on the host, naming the directive; nginx -t never loads it", async () => {
  const before = readFileSync(nginx.confPath, "utf8");
  const content = `load_module ${join(tmp.path, "evil.so")};\n${before}`;
  const fix = await seedFix(broker, {
    approval: { by: "mallory-looking-innocent", at: new Date().toISOString() },
    actions: [
      { type: "write_file", path: nginx.confPath, content },
      { type: "service", op: "reload" },
    ],
    verify: [{ type: "http", url: nginx.url("/status"), expect_status: 200 }],
  });
  const done = await waitForStatus(broker, fix.fix_id, ["fixed", "failed", "rolled_back", "refused"]);
  expect(done.status).toBe("refused");
  expect(done.status_reason).toContain('directive "load_module" may not be added or changed by a fix');
  expect(readFileSync(nginx.confPath, "utf8")).toBe(before);
  expect(nginx.testConfig().ok).toBe(true);
}, 60_000);

test("a change that keeps every forbidden directive as it is still runs", async () => {
  const before = readFileSync(nginx.confPath, "utf8");
  const content = `${before}\n# tuned by mcpmon\n`;
  const fix = await seedFix(broker, {
    approval: { by: "alice", at: new Date().toISOString() },
    actions: [
      { type: "write_file", path: nginx.confPath, content },
      { type: "service", op: "reload" },
    ],
    verify: [{ type: "http", url: nginx.url("/status"), expect_status: 200 }],
  });
  const done = await waitForStatus(broker, fix.fix_id, ["fixed", "failed", "rolled_back", "refused"]);
  expect([done.status, done.status_reason]).toEqual([
    "fixed",
    expect.stringContaining("applied and verified"),
  ]);
}, 60_000);

test("the executor connects only to a configured target or a registered client, never to an event's host", async () => {
  const config = testConfig({});
  const ghost = { client_id: "ghost", host: "10.6.6.6" } as Fix;
  await expect(resolveTransport(broker, config, ghost, new Map())).rejects.toThrow(
    'client "ghost" has no target (targets.ghost) and is not registered; the fix runs nowhere',
  );
});
