import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createEmbeddedBroker } from "../broker/embedded/index.ts";
import type { Broker } from "../broker/types.ts";
import { silentLogger } from "../core/log.ts";
import { loadPatternsFile } from "../core/patterns/load.ts";
import type { Fix } from "../core/schemas/fix.ts";
import { resolveTransport, startExecutors } from "../executor/worker.ts";
import { seedFix, testConfig, testPatterns, waitForStatus } from "./executor-fixtures.ts";
import {
  findProgram,
  type NginxServer,
  type SshdServer,
  startNginx,
  startSshd,
  tempDir,
} from "./harness/index.ts";

// Real nginx and sshd: what an approved-looking config change may not do, and where a fix may run.
let nginx: NginxServer;
let sshd: SshdServer;
let broker: Broker;
let executors: { stop(): Promise<void> };
const tmp = tempDir("mcpmon-exec-content-");
const shippedContent = loadPatternsFile(join(import.meta.dir, "..", "patterns", "nginx.yml")).spec.policy
  .content;

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
    content: shippedContent,
  });
  const config = testConfig({
    processing: { fix_executors: 1, claim_idle_ms: 60_000 },
    ssh_settings: {
      private_key_path: sshd.clientKeyPath,
      known_hosts: join(tmp.path, "kh"),
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
