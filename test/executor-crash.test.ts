import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createRedisBroker } from "../broker/redis/index.ts";
import type { Broker } from "../broker/types.ts";
import { silentLogger } from "../core/log.ts";
import type { Fix } from "../core/schemas/fix.ts";
import { startExecutors } from "../executor/worker.ts";
import { seedFix, testConfig, testPatterns, waitForStatus } from "./executor-fixtures.ts";
import {
  type RedisServer,
  type SshdServer,
  startRedis,
  startSshd,
  tempDir,
  waitFor,
} from "./harness/index.ts";

// An executor process dies (SIGKILL) after changing a file and while its next action sleeps.
// Another executor claims the entry: the fix is not run again, and the change is undone.
let redis: RedisServer;
let sshd: SshdServer;
let broker: Broker;
const tmp = tempDir("mcpmon-exec-crash-");
const web = join(tmp.path, "www");
const marker = join(web, "marker.txt");
const locked = join(web, "locked.png");
const SLEEP = "37"; // an unusual number, so the remote process can be found and counted

beforeAll(async () => {
  mkdirSync(web, { mode: 0o755 });
  writeFileSync(marker, "original\n", { mode: 0o644 });
  writeFileSync(locked, "png\n");
  chmodSync(locked, 0o600);
  [redis, sshd] = await Promise.all([startRedis(), startSshd({ user: "root" })]);
  broker = createRedisBroker({ url: redis.url, prefix: `crash-${process.pid}:` });
}, 60_000);

afterAll(async () => {
  // The orphaned remote `sleep 37` of the killed run, if sshd has not reaped it yet.
  for (const pid of sleepers()) process.kill(pid, "SIGKILL");
  await broker?.close();
  await Promise.all([redis?.stop(), sshd?.stop()]);
  tmp.cleanup();
}, 60_000);

function sleepers(): number[] {
  const r = Bun.spawnSync(["ps", "-eo", "pid=,args="]);
  return (
    r.stdout
      .toString()
      .split("\n")
      // Exactly `sleep 37`: not the `timeout … sleep 37` wrapper around it.
      .filter((l) => l.trim().replace(/^\d+\s+/, "") === `sleep ${SLEEP}`)
      .map((l) => Number(l.trim().split(/\s+/)[0]))
  );
}

test("an executor killed mid-fix: the fix is not run twice and ends rolled back", async () => {
  const config = {
    processing: { fix_executors: 1, claim_idle_ms: 500, max_deliveries: 5 },
    ssh_settings: {
      private_key_path: sshd.clientKeyPath,
      known_hosts: join(tmp.path, "known_hosts"),
      // A recoverer waits command_timeout + 7 s before it rolls back (a step of the lost run may
      // still be running until then): kept short here. The sleep is killed after the child is.
      command_timeout: 5,
    },
    targets: { c1: { host: sshd.host, port: sshd.port, user: "root", host_key: sshd.hostKeyPub } },
    executor: { backup_dir: join(tmp.path, "backups") },
  };
  const child = Bun.spawn([process.execPath, join(import.meta.dir, "executor-child.ts")], {
    env: {
      ...process.env,
      MCP_EXECUTOR_CHILD: JSON.stringify({
        url: redis.url,
        prefix: `crash-${process.pid}:`,
        config,
        webRoot: web,
      }),
    },
    stdout: "pipe",
    stderr: "inherit",
  });
  try {
    const fix = await seedFix(broker, {
      actions: [
        { type: "write_file", path: marker, content: "changed by the first run\n" },
        // No backup covers a mode: the record's intent (mode 600 before) is what undoes it.
        { type: "run", program: "chmod", args: ["644", locked] },
        { type: "run", program: "sleep", args: [SLEEP] },
      ],
    });
    // Wait until the first run has changed the file and is inside the sleep.
    await waitFor(
      "the first run to reach its sleep",
      async () => {
        const f = (await broker.getRecord<Fix>("fix", fix.fix_id))?.value;
        return (
          f?.status === "executing" &&
          f.steps.filter((s) => s.phase === "action").length === 2 &&
          sleepers().length === 1
        );
      },
      30_000,
    );
    expect(readFileSync(marker, "utf8")).toBe("changed by the first run\n");
    expect(statSync(locked).mode & 0o777).toBe(0o644);
    child.kill("SIGKILL");
    await child.exited;

    const ex = await startExecutors({
      broker,
      config: testConfig(config),
      patterns: testPatterns({ webRoot: web }),
      log: silentLogger,
      name: "survivor",
      blockMs: 100,
    });
    try {
      const done = await waitForStatus(
        broker,
        fix.fix_id,
        ["fixed", "failed", "rolled_back", "refused"],
        30_000,
      );
      // rolled_back only because every change was undone, the mode included.
      expect(done.status).toBe("rolled_back");
      expect(statSync(locked).mode & 0o777).toBe(0o600);
      expect(done.changes?.map((c) => [c.op, c.before?.mode])).toEqual([
        ["write_file", undefined],
        ["chmod", 0o600],
        ["sleep", undefined],
      ]);
      expect(done.status_reason).toMatch(
        /interrupted: the run of child-0 \(run 1\) was lost mid-fix; not re-run/,
      );
      expect(done.run?.executor).toBe("survivor-0");
      // The write ran once (first run) and was never repeated; the sleep was never started again.
      expect(done.steps.filter((s) => s.phase === "action").map((s) => s.description)).toEqual([
        `write_file "${marker}" (25 bytes)`,
        `run chmod 644 ${locked}`,
      ]);
      expect(
        done.steps.some(
          (s) => s.phase === "restore" && s.ok && s.description.startsWith("restore mode 0600"),
        ),
      ).toBe(true);
      expect(sleepers().length).toBeLessThanOrEqual(1);
      expect(readFileSync(marker, "utf8")).toBe("original\n");
      expect(done.steps.some((s) => s.phase === "restore" && s.ok && s.description.includes(marker))).toBe(
        true,
      );
      // The entry is acked just after the final state is written: wait for it rather than race it.
      await waitFor("the fix entry to be acknowledged", async () => {
        const st = await broker.stats(broker.keys.fixes);
        return st.groups[0]?.pending === 0;
      });
    } finally {
      await ex.stop();
    }
  } finally {
    child.kill("SIGKILL");
  }
}, 60_000);
