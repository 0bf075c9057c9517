import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { canConnect, postgresBinDir, startNginx, startPostgres, startSshd, waitFor } from "./index.ts";

// Servers absent on this machine skip rather than fail: scripts/install-test-deps.sh installs them.
// Bun 1.4.5 ignores bunfig's [test] timeout (5 s default); servers on a busy 2-core machine need more.
setDefaultTimeout(60_000);

/** `pid` and every process below it (a zombie counts as gone). */
function tree(pid: number): number[] {
  const kids = new Map<number, number[]>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      kids.set(ppid, [...(kids.get(ppid) ?? []), Number(e)]);
    } catch {}
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...(kids.get(out[i]!) ?? []));
  return out;
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

async function expectAllGone(pids: number[]): Promise<void> {
  await waitFor("server processes to exit", () => pids.every((p) => !alive(p)), 10_000);
}

function ssh(s: Awaited<ReturnType<typeof startSshd>>, command: string) {
  const knownHosts = join(s.dir, "known_hosts.test");
  writeFileSync(knownHosts, `${s.knownHostsLine}\n`);
  // -F /dev/null: root's own ~/.ssh/config must not change what is tested.
  const argv = ["ssh", "-F", "/dev/null", "-i", s.clientKeyPath, "-o", `UserKnownHostsFile=${knownHosts}`];
  argv.push("-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes");
  argv.push("-p", String(s.port), `${s.user}@127.0.0.1`, command);
  const r = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

// The servers are installed by scripts/install-test-deps.sh (npm test): missing ones fail, never skip.
describe("startSshd", () => {
  test("logs the test user in with the client key under strict host key checking, stops cleanly", async () => {
    const s = await startSshd();
    try {
      expect(s.hostKeyPub).toStartWith("ssh-ed25519 AAAA");
      expect(s.knownHostsLine).toBe(`[127.0.0.1]:${s.port} ${s.hostKeyPub}`);
      expect(s.clientKey).toContain("OPENSSH PRIVATE KEY");
      const r = ssh(s, "id -un; echo $0");
      expect(r).toMatchObject({ code: 0, stdout: "mcpmon-test\nsh\n" });
      // No "Could not chdir to home directory" noise on stderr.
      expect(r.stderr).toBe("");
      expect(readFileSync(s.logFile, "utf8")).toContain("Accepted publickey for mcpmon-test");
    } finally {
      const pids = tree(s.pid);
      await s.stop();
      await s.stop(); // idempotent
      await expectAllGone(pids);
      expect(existsSync(s.dir)).toBe(false);
    }
  });

  test("kill() takes sshd down; restart() brings it back on the same port and host key", async () => {
    const s = await startSshd();
    try {
      s.kill();
      await waitFor("sshd to refuse connections", async () => !(await canConnect(s.port)));
      expect(ssh(s, "true").code).not.toBe(0);
      await s.restart();
      expect(ssh(s, "true").code).toBe(0);
    } finally {
      await s.stop();
    }
  });

  test("logs in as root when asked", async () => {
    const s = await startSshd({ user: "root" });
    try {
      expect(ssh(s, "id -u")).toMatchObject({ code: 0, stdout: "0\n" });
    } finally {
      await s.stop();
    }
  });
});

describe("startNginx", () => {
  test("serves 200, 413 for a big upload, 502 for a refused upstream, 403 for a root-only file", async () => {
    const n = await startNginx();
    try {
      expect((await fetch(n.url("/status"))).status).toBe(200);
      expect(await (await fetch(n.url("/"))).text()).toContain("mcpmon test nginx");

      const big = await fetch(n.url("/upload"), { method: "POST", body: "x".repeat(2048) });
      expect(big.status).toBe(413);
      expect((await fetch(n.url("/upstream-refused"))).status).toBe(502);

      writeFileSync(join(n.htmlRoot, "secret.txt"), "root only\n");
      chmodSync(join(n.htmlRoot, "secret.txt"), 0o600);
      expect((await fetch(n.url("/secret.txt"))).status).toBe(403);

      const log = readFileSync(n.errorLog, "utf8");
      expect(log).toContain("client intended to send too large body: 2048 bytes");
      expect(log).toContain("connect() failed (111: Connection refused) while connecting to upstream");
      expect(log).toContain("(13: Permission denied)");
      expect(readFileSync(n.accessLog, "utf8")).toContain('"GET /status HTTP/1.1" 200');
    } finally {
      const pids = tree(n.pid);
      await n.stop();
      await expectAllGone(pids);
      expect(existsSync(n.prefix)).toBe(false);
    }
  });

  test("a broken config fails testConfig and reload, and the old config keeps serving", async () => {
    const n = await startNginx();
    try {
      const good = readFileSync(n.confPath, "utf8");
      expect(n.testConfig().ok).toBe(true);
      n.writeConfig(good.replace("worker_processes 1;", "worker_processes 1;\nno_such_directive on;"));
      const t = n.testConfig();
      expect(t.ok).toBe(false);
      expect(t.output).toContain('unknown directive "no_such_directive"');
      expect((await n.reload()).ok).toBe(false);
      expect((await fetch(n.url("/status"))).status).toBe(200);
      n.writeConfig(good.replace('return 200 "ok\\n";', 'return 200 "reloaded\\n";'));
      expect((await n.reload()).ok).toBe(true);
      // Old workers finish gracefully, so a request may still reach one for a moment.
      await waitFor(
        "new config",
        async () => (await (await fetch(n.url("/status"))).text()) === "reloaded\n",
      );
    } finally {
      await n.stop();
    }
  });
});

describe("startPostgres", () => {
  test("answers psql, logs a wrong password, and stops cleanly", async () => {
    const pg = await startPostgres();
    try {
      expect(await pg.psql("select 1")).toMatchObject({ code: 0, stdout: "1\n" });
      expect((await pg.psql("select current_user", { db: pg.user, user: pg.user })).stdout).toBe(
        `${pg.user}\n`,
      );

      const psql = join(postgresBinDir()!, "psql");
      const ok = Bun.spawnSync([psql, "-X", "-Atc", "select 2", pg.url(pg.user, pg.user)], {
        stderr: "pipe",
      });
      expect(ok.stdout.toString()).toBe("2\n");
      const bad = Bun.spawnSync([psql, "-X", "-c", "select 1", pg.url(pg.user, pg.user, "wrong")], {
        stderr: "pipe",
      });
      expect(bad.exitCode).not.toBe(0);
      await waitFor("the auth failure in the log", () =>
        readFileSync(pg.logFile, "utf8").includes(
          `FATAL:  password authentication failed for user "${pg.user}"`,
        ),
      );
      // log_line_prefix '%m [%p] ': timestamp with milliseconds, then the backend pid.
      expect(readFileSync(pg.logFile, "utf8")).toMatch(
        /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \w+ \[\d+\] LOG: {2}/m,
      );
    } finally {
      const pids = tree(pg.pid);
      await pg.stop();
      await expectAllGone(pids);
      expect(existsSync(pg.dataDir)).toBe(false);
    }
  });

  test("maxConnections is enforced and the refusal is logged", async () => {
    const pg = await startPostgres({ maxConnections: 2 });
    try {
      // Two sessions held open fill the server; the third is refused. A probe can take a slot just
      // when a holder connects and get the holder refused instead: holders that died are restarted.
      const hold = () =>
        Bun.spawn([join(postgresBinDir()!, "psql"), "-X", "-c", "select pg_sleep(30)", pg.url()], {
          stdout: "ignore",
          stderr: "ignore",
        });
      let holders = [hold(), hold()];
      await waitFor(
        "two sessions",
        async () => {
          holders = holders.map((h) => (h.exitCode === null ? h : hold()));
          const r = await pg.psql("select 1");
          return r.code !== 0 && r.stderr.includes("too many clients");
        },
        30_000,
        250,
      );
      for (const h of holders) h.kill();
      expect(readFileSync(pg.logFile, "utf8")).toContain("FATAL:  sorry, too many clients already");
    } finally {
      await pg.stop();
    }
  });
});
