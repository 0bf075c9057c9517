/**
 * Executor round trip: a small fix goes through the whole path — dequeue from `mcp:fixes`, reload
 * the record, policy and approval check, fencing, backup (cp -a + manifest), one action over SSH
 * on loopback with a warm pooled connection, validate, audit (record steps + mcp:events), ack.
 * Latency is the record's created_at → final updated_at, so polling adds nothing to it.
 *
 *   bun bench/executor.bench.ts [--fixes 60]
 *
 * SSH user is the /bin/sh test account (root's shell here runs a slow ~/.bashrc per command).
 */
import { chmodSync, chownSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createEmbeddedBroker } from "../broker/embedded/index.ts";
import { silentLogger } from "../core/log.ts";
import type { Fix } from "../core/schemas/fix.ts";
import { startExecutors } from "../executor/worker.ts";
import { seedFix, testConfig, testPatterns } from "../test/executor-fixtures.ts";
import { startSshd, tempDir } from "../test/harness/index.ts";

const arg = process.argv.indexOf("--fixes");
const N = arg > 0 ? Number(process.argv[arg + 1]) : 60;

const sshd = await startSshd();
const tmp = tempDir("mcpmon-exec-bench-");
chmodSync(tmp.path, 0o755); // mkdtemp makes it 0700; the SSH user must reach its folders
const uid = Number(Bun.spawnSync(["id", "-u", sshd.user]).stdout.toString());
const web = join(tmp.path, "www");
const backups = join(tmp.path, "backups");
for (const d of [web, backups]) {
  mkdirSync(d, { mode: 0o755 });
  chownSync(d, uid, uid);
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function round(executors: number, fixes: number, sequential: boolean) {
  const broker = createEmbeddedBroker({ path: ":memory:" });
  const file = join(web, `f-${executors}.txt`);
  writeFileSync(file, "x\n", { mode: 0o600 });
  chownSync(file, uid, uid);
  const patterns = testPatterns({ webRoot: web, validate: ["test", "-r", file], configFiles: [file] });
  const config = testConfig({
    processing: { fix_executors: executors, claim_idle_ms: 60_000 },
    ssh_settings: {
      private_key_path: sshd.clientKeyPath,
      known_hosts: join(tmp.path, "known_hosts"),
      user: sshd.user,
    },
    targets: { c1: { host: sshd.host, port: sshd.port, host_key: sshd.hostKeyPub } },
    executor: { backup_dir: backups },
  });
  const ex = await startExecutors({ broker, config, patterns, log: silentLogger, blockMs: 50 });
  const fix = () => seedFix(broker, { actions: [{ type: "run", program: "chmod", args: ["644", file] }] });
  const settle = async (ids: string[]) => {
    const out: Fix[] = [];
    for (const id of ids) {
      for (;;) {
        const f = (await broker.getRecord<Fix>("fix", id))!.value;
        if (!["queued", "executing"].includes(f.status)) {
          out.push(f);
          break;
        }
        await Bun.sleep(2);
      }
    }
    return out;
  };
  // Warm-up: connections in the pool, JIT.
  await settle(await Promise.all(Array.from({ length: 2 * executors }, () => fix().then((f) => f.fix_id))));
  const started = performance.now();
  let done: Fix[] = [];
  if (sequential) for (let i = 0; i < fixes; i++) done.push(...(await settle([(await fix()).fix_id])));
  else
    done = await settle(await Promise.all(Array.from({ length: fixes }, () => fix().then((f) => f.fix_id))));
  const seconds = (performance.now() - started) / 1000;
  await ex.stop();
  await broker.close();
  const bad = done.filter((f) => f.status !== "fixed");
  if (bad.length)
    throw new Error(`${bad.length} fixes not fixed: ${bad[0]!.status} ${bad[0]!.status_reason}`);
  const lat = done.map((f) => Date.parse(f.updated_at) - Date.parse(f.created_at)).sort((a, b) => a - b);
  return {
    executors,
    mode: sequential ? "one at a time" : "burst",
    fixes,
    p50: quantile(lat, 0.5),
    p99: quantile(lat, 0.99),
    perSec: fixes / seconds,
  };
}

try {
  const rows = [await round(1, N, true), await round(1, N, false), await round(4, N, false)];
  console.log("executor round trip (enqueue → fixed, SSH loopback, warm pool)");
  console.log("fix_executors | mode          | fixes | p50 ms | p99 ms | fixes/s");
  for (const r of rows)
    console.log(
      `${String(r.executors).padStart(13)} | ${r.mode.padEnd(13)} | ${String(r.fixes).padStart(5)} | ${String(r.p50).padStart(6)} | ${String(r.p99).padStart(6)} | ${r.perSec.toFixed(1).padStart(7)}`,
    );
} finally {
  await sshd.stop();
  tmp.cleanup();
}
