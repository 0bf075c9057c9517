import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createEmbeddedBroker } from "../broker/embedded/index.ts";
import type { Broker } from "../broker/types.ts";
import { silentLogger } from "../core/log.ts";
import type { Fix } from "../core/schemas/fix.ts";
import { createSshTransport } from "../executor/transport/ssh.ts";
import type { Transport } from "../executor/transport/types.ts";
import { startExecutors } from "../executor/worker.ts";
import { seedFix, testConfig, testPatterns, waitForStatus } from "./executor-fixtures.ts";
import { type SshdServer, startSshd, tempDir, waitFor } from "./harness/index.ts";

// Executor A loses its lease in the middle of a fix: the broker stops accepting its lease
// renewals while a slow write_file runs, and the lease expires. A must not take another step on
// the host; executor B, which gets the redelivered entry, undoes what A did; the record says so.
let sshd: SshdServer;
let broker: Broker;
const tmp = tempDir("mcpmon-exec-lease-");
const web = join(tmp.path, "www");
const marker = join(web, "marker.txt");
const second = join(web, "second.png");

beforeAll(async () => {
  mkdirSync(web, { mode: 0o755 });
  sshd = await startSshd({ user: "root" });
  broker = createEmbeddedBroker({ path: ":memory:" });
}, 60_000);

afterAll(async () => {
  await broker?.close();
  await sshd?.stop();
  tmp.cleanup();
}, 60_000);

/** The broker as A sees it: once `failing` is set, every write of a lease key is rejected. */
function flakyLeases(inner: Broker, failing: () => boolean): Broker {
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === "kvSet")
        return (key: string, value: string, opts?: { ttlMs?: number; ifAbsent?: boolean }) =>
          failing() && key.startsWith("executor:lease:")
            ? Promise.reject(new Error("connection reset (test: lease writes fail)"))
            : target.kvSet(key, value, opts);
      const v = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

test("an executor whose lease lapsed during a slow write stops before its next host-changing step; the redelivered fix is rolled back", async () => {
  writeFileSync(marker, "original\n");
  chmodSync(marker, 0o644);
  writeFileSync(second, "png\n");
  chmodSync(second, 0o600);
  const config = testConfig({
    processing: { fix_executors: 1, claim_idle_ms: 1000, max_deliveries: 5 },
    ssh_settings: {
      private_key_path: sshd.clientKeyPath,
      known_hosts: join(tmp.path, "known_hosts"),
      command_timeout: 2,
    },
    targets: { c1: { host: sshd.host, port: sshd.port, user: "root", host_key: sshd.hostKeyPub } },
    executor: { backup_dir: join(tmp.path, "backups") },
  });
  const patterns = testPatterns({ webRoot: web });
  const real = createSshTransport({
    host: sshd.host,
    port: sshd.port,
    user: "root",
    privateKey: sshd.clientKey,
    hostKey: sshd.hostKeyPub,
  });
  let failing = false;
  let fixId = "";
  /** A's host: the write of the marker is slow, and A's lease renewals fail while it runs. */
  const slow: Transport = {
    target: real.target,
    exec: async (argv, o) => {
      const isWrite = argv.includes(marker) && o?.stdin !== undefined;
      if (!isWrite) return await real.exec(argv, o);
      failing = true;
      const r = await real.exec(argv, o);
      // Slow: it returns only once A's lease has expired in the broker.
      await waitFor(
        "A's lease to expire",
        async () => {
          const f = (await broker.getRecord<Fix>("fix", fixId))?.value;
          const keys = [
            `executor:lease:${fixId}`,
            `executor:lease:${fixId}:${f?.run?.executor}:${f?.run?.token}`,
          ];
          for (const k of keys) if ((await broker.kvGet(k)) !== null) return false;
          return true;
        },
        20_000,
        50,
      );
      return r;
    },
    readFile: (p) => real.readFile(p),
    writeFile: async (p, d, o) => {
      // (the old transport path of write_file)
      if (p === marker)
        return await slow.exec(["write", marker], { stdin: d }).then(async () => {
          await real.writeFile(p, d, o);
        });
      return await real.writeFile(p, d, o);
    },
    stat: (p) => real.stat(p),
    realpath: (p) => real.realpath(p),
    httpGet: (u, t) => real.httpGet(u, t),
    close: () => real.close(),
  };
  const a = await startExecutors({
    broker: flakyLeases(broker, () => failing),
    config,
    patterns,
    transports: () => slow,
    log: silentLogger,
    name: "A",
    blockMs: 100,
  });
  let b: { stop(): Promise<void> } | undefined;
  try {
    const fix = await seedFix(broker, {
      actions: [
        { type: "write_file", path: marker, content: "changed by A\n" },
        { type: "run", program: "chmod", args: ["644", second] },
      ],
    });
    fixId = fix.fix_id;
    // A either stops by itself (new) or carries on to the end (the bug).
    const seen = await waitFor(
      "A to stop or finish",
      async () => {
        const f = (await broker.getRecord<Fix>("fix", fixId))?.value;
        if (!f || f.status === "queued") return false;
        return f.status !== "executing" || /lease/.test(f.status_reason ?? "");
      },
      30_000,
      50,
    ).then(async () => (await broker.getRecord<Fix>("fix", fixId))!.value);
    expect(seen.status).toBe("executing");
    expect(seen.status_reason).toMatch(/run 1 by A-0 stopped: .*lease.*; stopped before run chmod 644/);
    // A did not take its next step on the host.
    expect(statSync(second).mode & 0o7777).toBe(0o600);
    await a.stop();
    failing = false;

    // B gets the entry A left pending, and undoes A's write without running anything again.
    b = await startExecutors({
      broker,
      config,
      patterns,
      transports: () => real,
      log: silentLogger,
      name: "B",
      blockMs: 100,
    });
    const done = await waitForStatus(broker, fixId, ["fixed", "failed", "rolled_back", "refused"], 60_000);
    expect(done.status).toBe("rolled_back");
    expect(done.status_reason).toMatch(
      /interrupted: the run of A-0 \(run 1\) was lost mid-fix; not re-run; rolled back/,
    );
    expect(done.run?.executor).toBe("B-0");
    expect(done.run?.token).toBe(2);
    // The record tells what happened on the host: A's one write, then B's restore.
    expect(done.steps.filter((s) => s.phase === "action").map((s) => s.description)).toEqual([
      `write_file "${marker}" (13 bytes)`,
    ]);
    expect(done.steps.some((s) => s.phase === "restore" && s.ok && s.description.includes(marker))).toBe(
      true,
    );
    expect(readFileSync(marker, "utf8")).toBe("original\n");
    expect(statSync(marker).mode & 0o7777).toBe(0o644);
    expect(statSync(second).mode & 0o7777).toBe(0o600);
    const events = (await broker.range(broker.keys.events)).map((e) => JSON.parse(e.fields.data!));
    expect(
      events.some(
        (e) => e.subject === fixId && e.type === "fix.status" && /A-0 stopped: .*lease/.test(e.data.reason),
      ),
    ).toBe(true);
    // The entry is acked just after the final state is written: wait for it rather than race it.
    await waitFor("the fix entry to be acknowledged", async () => {
      return (await broker.stats(broker.keys.fixes)).groups[0]?.pending === 0;
    });
  } finally {
    failing = false;
    await a.stop();
    await b?.stop();
    await real.close();
  }
}, 120_000);
