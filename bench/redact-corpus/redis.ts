/**
 * Redis as operators see it: `redis-cli MONITOR` while clients authenticate and change secrets,
 * the server log, and ioredis's own debug output (DEBUG=ioredis:*), the client library an
 * application runs, sending the same commands. (Redis 7 itself writes `"AUTH" "(redacted)"` in
 * MONITOR and SLOWLOG; raw `SLOWLOG GET` prints one argument per line, so no single line holds
 * both the key and the secret: it is left out of the per-line corpus.)
 */
import { startRedis } from "../../test/harness/redis.ts";
import { type LabelledLine, label, randomText, type Split, secret } from "./label.ts";

interface RedisCase {
  split: Split;
  /** redis-cli arguments, given the secret. */
  args: (s: string) => string[];
  shape: string;
}

const CASES: RedisCase[] = [
  { split: "written", shape: "%", args: (s) => ["AUTH", s] },
  { split: "written", shape: "%", args: (s) => ["auth", "default", s] },
  { split: "written", shape: "%#", args: (s) => ["CONFIG", "SET", "masterauth", s] },
  {
    split: "written",
    shape: "%",
    args: (s) => ["ACL", "SETUSER", "reporter", "on", `>${s}`, "~reports:*", "+get"],
  },
  {
    split: "written",
    shape: "%",
    args: (s) => ["MIGRATE", "127.0.0.1", "1", "", "0", "100", "KEYS", "k1", "AUTH", s],
  },
  // Held out.
  {
    split: "heldout",
    shape: "%",
    args: (s) => ["MIGRATE", "127.0.0.1", "1", "", "0", "100", "AUTH2", "default", s, "KEYS", "k2"],
  },
  { split: "heldout", shape: "#", args: (s) => ["HELLO", "3", "AUTH", "default", s] },
  { split: "heldout", shape: "%", args: (s) => ["config", "set", "requirepass", s] },
  { split: "heldout", shape: "%", args: (s) => ["ACL", "SETUSER", "ops", "resetpass", `>${s}`, "on"] },
];

const SOURCE_MONITOR = "redis-cli MONITOR (real redis-server 7)";
const SOURCE_IOREDIS = "ioredis 6 debug output (DEBUG=ioredis:*, real client and server)";

async function spawnText(argv: string[], env: Record<string, string> = {}): Promise<string> {
  const p = Bun.spawn(argv, { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  const [o, e] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return o + e;
}

const SCRIPT = "/tmp/mcpmon-ioredis-capture.ts";
async function ioredisDebug(port: number, pw: string, args: string[]): Promise<string> {
  const script = `import Redis from ${JSON.stringify(Bun.resolveSync("ioredis", import.meta.dir))};
const r = new Redis({ host: "127.0.0.1", port: ${port}, username: "default", password: process.env.PW, lazyConnect: true });
await r.connect(); await r.set("session:${randomText(8)}", "1");
await r.call(...JSON.parse(process.env.ARGS)).catch(() => {}); r.disconnect();`;
  await Bun.write(SCRIPT, script);
  return spawnText([process.execPath, SCRIPT], { DEBUG: "ioredis:*", PW: pw, ARGS: JSON.stringify(args) });
}

export async function captureRedis(): Promise<LabelledLine[]> {
  const pw = secret("%");
  const r = await startRedis({ password: pw });
  const cli = ["/usr/bin/redis-cli", "--no-auth-warning", "-h", "127.0.0.1", "-p", String(r.port), "-a", pw];
  const out: LabelledLine[] = [];
  try {
    for (const c of CASES) {
      const s = secret(c.shape);
      const monitor = Bun.spawn([...cli, "MONITOR"], { stdout: "pipe", stderr: "ignore" });
      await Bun.sleep(150);
      await spawnText([...cli, ...c.args(s)]);
      // The server's password may have changed: put it back for the next case.
      await spawnText([...cli.slice(0, -2), "-a", s, "CONFIG", "SET", "requirepass", pw]);
      await Bun.sleep(150);
      monitor.kill();
      const mon = await new Response(monitor.stdout).text();
      out.push(
        ...label(mon.split("\n"), {
          family: "redis",
          secrets: [s, pw],
          source: SOURCE_MONITOR,
          split: c.split,
        }),
      );
      // ioredis's debug log of a client that authenticates and sends the same command.
      const dbg = await ioredisDebug(r.port, pw, c.args(s));
      await spawnText([...cli.slice(0, -2), "-a", s, "CONFIG", "SET", "requirepass", pw]);
      out.push(
        ...label(dbg.split("\n"), {
          family: "redis",
          secrets: [s, pw],
          source: SOURCE_IOREDIS,
          split: c.split,
        }),
      );
    }
    // Look-alikes: the server log, INFO, CLIENT LIST, a wrong password.
    const info = await spawnText([...cli, "INFO", "server"]);
    const list = await spawnText([...cli, "CLIENT", "LIST"]);
    const wrong = await spawnText([...cli.slice(0, -2), "-a", `nope${randomText(4)}`, "PING"]);
    const log = await Bun.file(r.logFile).text();
    for (const [text, source] of [
      [info, "redis-cli INFO server"],
      [list, "redis-cli CLIENT LIST"],
      [wrong, "redis-cli with a wrong password"],
      [log, "redis-server log"],
    ] as const)
      out.push(...label(text.split("\n"), { family: "redis", secrets: [pw], source, split: "written" }));
  } finally {
    await r.stop();
  }
  return out;
}
