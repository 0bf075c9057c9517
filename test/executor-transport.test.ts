import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createEmbeddedBroker } from "../broker/embedded/index.ts";
import type { Broker } from "../broker/types.ts";
import { isMcpError } from "../core/errors.ts";
import { silentLogger } from "../core/log.ts";
import { createSshTransport } from "../executor/transport/ssh.ts";
import { startExecutors } from "../executor/worker.ts";
import { seedFix, testConfig, testPatterns, waitForStatus } from "./executor-fixtures.ts";
import { type SshdServer, startSshd, tempDir } from "./harness/index.ts";

// What an operator sees when the host cannot be trusted or reached: a clear reason, nothing run.
let sshd: SshdServer;
let other: SshdServer;
let broker: Broker;
const tmp = tempDir("mcpmon-exec-transport-");
const web = join(tmp.path, "www");
const file = join(web, "f.txt");

beforeAll(async () => {
  mkdirSync(web, { mode: 0o755 });
  writeFileSync(file, "f\n", { mode: 0o600 });
  // A second server only for its keys: its host key is "wrong" for the first, its client key unknown.
  [sshd, other] = await Promise.all([startSshd({ user: "root" }), startSshd({ user: "root" })]);
  broker = createEmbeddedBroker({ path: ":memory:" });
}, 60_000);

afterAll(async () => {
  await broker?.close();
  await Promise.all([sshd?.stop(), other?.stop()]);
  tmp.cleanup();
}, 60_000);

async function runOne(
  target: Record<string, unknown>,
  processing: Record<string, unknown> = {},
  keyPath = sshd.clientKeyPath,
) {
  const config = testConfig({
    processing: { fix_executors: 1, claim_idle_ms: 300, max_deliveries: 2, ...processing },
    ssh_settings: {
      private_key_path: keyPath,
      known_hosts: join(tmp.path, "known_hosts"),
      connection_timeout: 5,
    },
    targets: { c1: { host: "127.0.0.1", port: sshd.port, user: "root", ...target } },
    executor: { backup_dir: join(tmp.path, "backups") },
  });
  const ex = await startExecutors({
    broker,
    config,
    patterns: testPatterns({ webRoot: web }),
    log: silentLogger,
    blockMs: 100,
  });
  try {
    const fix = await seedFix(broker, { actions: [{ type: "run", program: "chmod", args: ["644", file] }] });
    return await waitForStatus(broker, fix.fix_id, ["fixed", "failed", "rolled_back", "refused"]);
  } finally {
    await ex.stop();
  }
}

test("a wrong pinned host key is refused before authentication, nothing run", async () => {
  const logBefore = readFileSync(sshd.logFile, "utf8").length;
  const done = await runOne({ host_key: other.hostKeyPub });
  expect(done.status).toBe("failed");
  expect(done.status_reason).toMatch(
    /host key mismatch: \[127\.0\.0\.1\]:\d+ presented ssh-ed25519 .*not the pinned key/,
  );
  expect(done.steps).toEqual([]);
  expect(statSync(file).mode & 0o777).toBe(0o600);
  expect(readFileSync(sshd.logFile, "utf8").slice(logBefore)).not.toMatch(
    /Accepted publickey|Starting session/,
  );
}, 60_000);

test("an unknown host is refused without trust_on_first_use; with it the key is pinned in known_hosts", async () => {
  const t = createSshTransport({
    host: sshd.host,
    port: sshd.port,
    user: "root",
    privateKey: sshd.clientKey,
    knownHostsFile: join(tmp.path, "kh-empty"),
  });
  await expect(t.exec(["true"])).rejects.toThrow(/unknown host/);
  await t.close();
  const kh = join(tmp.path, "kh-tofu");
  const tofu = createSshTransport({
    host: sshd.host,
    port: sshd.port,
    user: "root",
    privateKey: sshd.clientKey,
    knownHostsFile: kh,
    trustOnFirstUse: true,
  });
  expect((await tofu.exec(["true"])).code).toBe(0);
  await tofu.close();
  expect(readFileSync(kh, "utf8").trim()).toBe(sshd.knownHostsLine);
  // Now known: a different key for the same host is a mismatch, even with trust_on_first_use.
  writeFileSync(kh, `[127.0.0.1]:${sshd.port} ${other.hostKeyPub}\n`);
  const changed = createSshTransport({
    host: sshd.host,
    port: sshd.port,
    user: "root",
    privateKey: sshd.clientKey,
    knownHostsFile: kh,
    trustOnFirstUse: true,
  });
  await expect(changed.exec(["true"])).rejects.toThrow(/host key mismatch/);
  await changed.close();
}, 60_000);

test("authentication failure gives a clear, non-retryable reason", async () => {
  const t = createSshTransport({
    host: sshd.host,
    port: sshd.port,
    user: "root",
    privateKey: other.clientKey,
    hostKey: sshd.hostKeyPub,
  });
  const err = await t.exec(["true"]).catch((e) => e);
  expect(isMcpError(err, "AUTH_FAILED")).toBe(true);
  expect(err.message).toMatch(/authentication failed for root/);
  await t.close();
  const done = await runOne({ host_key: sshd.hostKeyPub }, {}, other.clientKeyPath);
  expect(done.status).toBe("failed");
  expect(done.status_reason).toMatch(/authentication failed/);
}, 60_000);

test("sshd down: retried up to max_deliveries, then failed with a clear reason", async () => {
  sshd.kill();
  try {
    const done = await runOne({ host_key: sshd.hostKeyPub });
    expect(done.status).toBe("failed");
    expect(done.status_reason).toMatch(/connection refused \(is sshd running\?\)/);
    const events = (await broker.range(broker.keys.events)).map((e) => JSON.parse(e.fields.data!));
    const retries = events.filter(
      (e) => e.subject === done.fix_id && e.type === "fix.status" && e.data.status === "queued",
    );
    expect(retries.length).toBe(1);
    expect(retries[0].data.reason).toMatch(/attempt 1 of 2 failed, will retry/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  } finally {
    await sshd.restart();
  }
}, 60_000);

test("bounded output and per-action timeout", async () => {
  const t = createSshTransport({
    host: sshd.host,
    port: sshd.port,
    user: "root",
    privateKey: sshd.clientKey,
    hostKey: sshd.hostKeyPub,
  });
  const big = await t.exec(["head", "-c", "200000", "/dev/zero"], { maxOutputBytes: 1000 });
  expect(big.truncated).toBe(true);
  expect(big.stdoutBytes.length).toBe(1000);
  const slow = await t.exec(["sleep", "30"], { timeoutMs: 1000 });
  expect(slow.timedOut).toBe(true);
  expect(slow.code).toBeNull();
  await t.close();
}, 60_000);
