// Issue 18.8, the commands: `serve` and `collect` warn when the broker runs without AOF, and with
// broker.durable: true they refuse to start (exit 1, saying why) against a Redis that cannot keep it.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { freePort, type RedisServer, startRedis, tempDir } from "../harness/index.ts";

let redis: RedisServer;
const tmp = tempDir("mcpmon-fault-serve-");
beforeAll(async () => {
  redis = await startRedis({ save: "" });
});
afterAll(async () => {
  await redis?.stop();
  tmp.cleanup();
});

const main = join(import.meta.dir, "../../cli/main.ts");

async function run(args: string[], until: RegExp | null) {
  const proc = Bun.spawn([process.execPath, main, ...args], {
    stdout: "pipe",
    stderr: "pipe",
    env: process.env,
  });
  let out = "";
  const read = async (s: ReadableStream<Uint8Array>) => {
    for await (const c of s) out += new TextDecoder().decode(c);
  };
  const done = Promise.all([read(proc.stdout), read(proc.stderr)]);
  const end = Date.now() + 20_000;
  while (until && !until.test(out) && proc.exitCode === null && Date.now() < end) await Bun.sleep(50);
  if (until) proc.kill("SIGTERM");
  const code = await proc.exited;
  await done;
  return { code, out };
}

async function central(durable: boolean) {
  const file = join(tmp.path, `central-${durable}.yml`);
  writeFileSync(
    file,
    stringify({
      broker: { url: redis.url, prefix: `serve-${durable}:`, durable },
      processing: { error_processors: 0, fix_executors: 0 },
      api: { host: "127.0.0.1", port: await freePort(), metrics_port: await freePort() },
    }),
  );
  return file;
}

test("serve: a WARNING line for a broker without AOF; broker.durable refuses it (exit 1)", async () => {
  const warned = await run(["serve", "--config", await central(false)], /fixes {6}/);
  expect(warned.out).toContain("WARNING    the broker runs without AOF (appendonly no)");
  const refused = await run(["serve", "--config", await central(true)], null);
  expect(refused.code).toBe(1);
  expect(refused.out).toContain("broker.durable is true but Redis");
  expect(refused.out).toContain("runs without AOF (appendonly no)");
}, 60_000);

test("collect: the same warning in its log; broker.durable refuses to start", async () => {
  const client = (durable: boolean) => {
    const file = join(tmp.path, `client-${durable}.yml`);
    writeFileSync(
      file,
      stringify({
        client_id: `c-${durable}`,
        service_type: "nginx",
        log_paths: [join(tmp.path, "*.log")],
        state_dir: join(tmp.path, `state-${durable}`),
        broker: { url: redis.url, prefix: "collect:", durable },
      }),
    );
    return file;
  };
  const warned = await run(["collect", "--config", client(false)], /runs without AOF/);
  expect(warned.out).toContain("the broker runs without AOF (appendonly no)");
  const refused = await run(["collect", "--config", client(true)], null);
  expect(refused.code).toBe(1);
  expect(refused.out).toContain("broker.durable is true but Redis");
}, 60_000);
