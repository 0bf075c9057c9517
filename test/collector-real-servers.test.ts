// Real servers, real lines: real nginx, PostgreSQL and Redis are made to fail for real, and the
// collector, tailing each server's OWN log file, must ship the right pattern id to mcp:errors.
// No log line here is written by the test: every one comes from the server.
//
// Two Redis failures are never logged by Redis 7 (checked below, not assumed): the OOM refusal
// under noeviction and MISCONF are only replies to the client. For those the test asserts the reply
// the client really got, classifies it with the same patterns, and submits it through POST /errors,
// which is how an application reports them to mcpmon.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { chmodSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SQL } from "bun";
import Redis from "ioredis";
import { makeTestApp, TOKENS } from "../api/test-support.ts";
import { createMatcher } from "../collector/index.ts";
import type { ErrorEvent } from "../core/schemas/error-event.ts";
import {
  collectLogs,
  patterns,
  type RealCollector,
  startUnprivilegedRedis,
  type UnprivilegedRedis,
} from "./collector-real-support.ts";
import {
  type NginxServer,
  type PostgresServer,
  type RedisServer,
  startNginx,
  startPostgres,
  startRedis,
  waitFor,
} from "./harness/index.ts";

setDefaultTimeout(120_000);

const tag = () => randomBytes(4).toString("hex");

/** The pattern ids of everything shipped so far, sorted (a record shipped twice would show twice). */
async function shippedIds(rc: RealCollector): Promise<string[]> {
  return (await rc.events()).map((e) => e.pattern_id).sort();
}

describe("nginx: its error.log", () => {
  let ng: NginxServer;
  let rc: RealCollector;
  beforeAll(async () => {
    ng = await startNginx();
    rc = await collectLogs([{ client_id: "real-nginx", service: "nginx", logFile: ng.errorLog }]);
  });
  afterAll(async () => {
    await rc?.stop();
    await ng?.stop();
  });

  const fromLog = (e: ErrorEvent) => {
    expect(e.service).toBe("nginx");
    expect(e.client_id).toBe("real-nginx");
    expect(e.source?.path).toBe(ng.errorLog);
  };

  test("a missing file: 404, open() failed (2: No such file or directory) → nginx-file-not-found", async () => {
    const name = `missing-${tag()}.html`;
    const res = await fetch(ng.url(name));
    expect(res.status).toBe(404);
    await res.arrayBuffer();
    const e = await rc.waitForEvent("nginx-file-not-found", (x) => x.fields.path === join(ng.htmlRoot, name));
    fromLog(e);
    expect(e.message).toContain("failed (2: No such file or directory)");
    expect(e.fields.client).toBe("127.0.0.1");
  });

  test("a root-owned 0600 file the worker (nobody) cannot read: 403, (13: Permission denied) → nginx-permission-denied", async () => {
    const name = `private-${tag()}.html`;
    const file = join(ng.htmlRoot, name);
    writeFileSync(file, "secret\n", { mode: 0o600 });
    expect(statSync(file).uid).toBe(0);
    const res = await fetch(ng.url(name));
    expect(res.status).toBe(403);
    await res.arrayBuffer();
    const e = await rc.waitForEvent("nginx-permission-denied", (x) => x.fields.path === file);
    fromLog(e);
    expect(e.message).toContain("failed (13: Permission denied)");
  });

  test("an upstream that refuses: 502, connect() failed (111: Connection refused) → nginx-upstream-refused", async () => {
    const path = `/upstream-refused/${tag()}`;
    const res = await fetch(ng.url(path));
    expect(res.status).toBe(502);
    await res.arrayBuffer();
    const e = await rc.waitForEvent(
      "nginx-upstream-refused",
      (x) => x.fields.request === `GET ${path} HTTP/1.1`,
    );
    fromLog(e);
    expect(e.fields.upstream).toBe(`http://127.0.0.1:1${path}`);
    expect(e.fields.server).toBe("localhost");
  });

  test("a 4 KB body to /upload (client_max_body_size 1k): 413 → nginx-body-too-large", async () => {
    const path = `/upload/${tag()}`;
    const res = await fetch(ng.url(path), { method: "POST", body: "x".repeat(4096) });
    expect(res.status).toBe(413);
    await res.arrayBuffer();
    const e = await rc.waitForEvent(
      "nginx-body-too-large",
      (x) => x.fields.request === `POST ${path} HTTP/1.1`,
    );
    fromLog(e);
    expect(e.fields.bytes).toBe("4096");
    expect(e.message).toContain("client intended to send too large body: 4096 bytes");
  });

  test("a broken config checked with nginx -t -e <error.log>: [emerg] unknown directive → nginx-unknown-directive", async () => {
    const directive = `mcpmon_bogus_${tag()}`;
    const good = readFileSync(ng.confPath, "utf8");
    ng.writeConfig(good.replace("events {", `${directive} on;\nevents {`));
    let result: { ok: boolean; output: string };
    try {
      result = ng.testConfig();
    } finally {
      ng.writeConfig(good); // never reloaded: the running server keeps the good config anyway
    }
    expect(result.ok).toBe(false);
    const e = await rc.waitForEvent("nginx-unknown-directive", (x) => x.fields.directive === directive);
    fromLog(e);
    expect(e.fields.file).toBe(ng.confPath);
    expect(e.severity).toBe("critical");
    // "configuration file … test failed" goes to nginx -t's stderr only, never to the error log, so
    // the log's evidence of a failed test is the [emerg] line itself.
    expect(result.output).toContain(`configuration file ${ng.confPath} test failed`);
    expect(readFileSync(ng.errorLog, "utf8")).not.toContain("test failed");
  });

  test("nothing else: nginx's own start-up lines and the 200s in between match no pattern", async () => {
    const res = await fetch(ng.url("/status"));
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    expect(readFileSync(ng.errorLog, "utf8")).toContain("[notice]");
    await rc.waitUntilAllShipped();
    expect(await shippedIds(rc)).toEqual([
      "nginx-body-too-large",
      "nginx-file-not-found",
      "nginx-permission-denied",
      "nginx-unknown-directive",
      "nginx-upstream-refused",
    ]);
  });
});

describe("PostgreSQL: the postmaster's stderr log", () => {
  let pg: PostgresServer;
  let rc: RealCollector;
  beforeAll(async () => {
    // 6 slots, 3 of them reserved for superusers; a short deadlock_timeout keeps the deadlock test quick.
    pg = await startPostgres({ maxConnections: 6, settings: { deadlock_timeout: "'100ms'" } });
    rc = await collectLogs([{ client_id: "real-postgres", service: "postgres", logFile: pg.logFile }]);
  });
  afterAll(async () => {
    await rc?.stop();
    await pg?.stop();
  });

  /** Connect over TCP (scram-sha-256) and run `sql`; the server's error message, or null on success. */
  async function tryQuery(url: string, sql = "SELECT 1"): Promise<string | null> {
    const c = new SQL({ url, max: 1, idleTimeout: 1, connectionTimeout: 10 });
    try {
      await c.unsafe(sql);
      return null;
    } catch (err) {
      return (err as Error).message;
    } finally {
      await c.close();
    }
  }

  const fromLog = (e: ErrorEvent) => {
    expect(e.service).toBe("postgres");
    expect(e.source?.path).toBe(pg.logFile);
  };

  test("a wrong password over TCP → pg-password-auth-failed, with its DETAIL line in the record", async () => {
    const err = await tryQuery(pg.url(pg.user, pg.user, "not-the-password"));
    expect(err).toContain(`password authentication failed for user "${pg.user}"`);
    const e = await rc.waitForEvent("pg-password-auth-failed", (x) => x.fields.user === pg.user);
    fromLog(e);
    expect(e.message).toContain("FATAL:  password authentication failed");
    expect(e.message).toContain("DETAIL:  Connection matched pg_hba.conf line 2");
    expect(e.message).not.toContain("not-the-password");
  });

  test("a database that does not exist → pg-database-not-exist", async () => {
    const db = `no_such_db_${tag()}`;
    const err = await tryQuery(pg.url(db, pg.user));
    expect(err).toContain(`database "${db}" does not exist`);
    const e = await rc.waitForEvent("pg-database-not-exist", (x) => x.fields.database === db);
    fromLog(e);
    expect(e.message).toContain("FATAL:  database");
  });

  test("too many clients (max_connections 6) → pg-too-many-clients, for a normal role and for a superuser", async () => {
    const held: SQL[] = [];
    /** Open and keep connections as `user` until the server refuses one; its message. */
    const fill = async (user: string): Promise<string> => {
      for (let i = 0; i <= 6; i++) {
        const c = new SQL({ url: pg.url("postgres", user), max: 1, connectionTimeout: 10 });
        held.push(c);
        try {
          await c`SELECT 1`;
        } catch (err) {
          return (err as Error).message;
        }
      }
      throw new Error(`7 connections as ${user} were all accepted`);
    };
    try {
      // A normal role gets max_connections - superuser_reserved_connections = 3 slots.
      const asUser = await fill(pg.user);
      expect(asUser).toContain("remaining connection slots are reserved");
      // A superuser gets the rest; then there is no slot at all.
      const asSuper = await fill("postgres");
      expect(asSuper).toContain("sorry, too many clients already");
    } finally {
      await Promise.all(held.map((c) => c.close()));
    }
    const reserved = await rc.waitForEvent("pg-too-many-clients", (x) =>
      x.message.includes("remaining connection slots are reserved"),
    );
    const full = await rc.waitForEvent("pg-too-many-clients", (x) =>
      x.message.includes("FATAL:  sorry, too many clients already"),
    );
    fromLog(reserved);
    fromLog(full);
  });

  test("a syntax error (SELEC 1) → pg-syntax-error, with its STATEMENT line in the record", async () => {
    const err = await tryQuery(pg.url(pg.user, pg.user), "SELEC 1");
    expect(err).toContain('syntax error at or near "SELEC"');
    const e = await rc.waitForEvent("pg-syntax-error", (x) => x.fields.token === "SELEC");
    fromLog(e);
    expect(e.message).toContain("ERROR:  syntax error at or near");
    expect(e.message).toContain("STATEMENT:  SELEC 1");
  });

  test("a deadlock (two sessions, two rows, opposite order) → pg-deadlock, one multiline record with its DETAIL", async () => {
    const table = `dl_${tag()}`;
    const pool = new SQL({ url: pg.url(pg.user, pg.user), max: 2, connectionTimeout: 10 });
    try {
      await pool.unsafe(
        `CREATE TABLE ${table} (id int PRIMARY KEY, v int); INSERT INTO ${table} VALUES (1, 0), (2, 0)`,
      );
      const a = await pool.reserve();
      const b = await pool.reserve();
      const pidOf = async (s: typeof a) => String((await s`SELECT pg_backend_pid() AS pid`)[0].pid);
      const pids = [await pidOf(a), await pidOf(b)];
      await a`BEGIN`;
      await b`BEGIN`;
      await a.unsafe(`UPDATE ${table} SET v = v + 1 WHERE id = 1`);
      await b.unsafe(`UPDATE ${table} SET v = v + 1 WHERE id = 2`);
      // Each now waits for the other's row: whichever order they arrive in, the server must cancel one.
      const outcome = (p: Promise<unknown>) =>
        p.then(
          () => "ok",
          (err: Error) => err.message,
        );
      const [ra, rb] = await Promise.all([
        outcome(a.unsafe(`UPDATE ${table} SET v = v + 1 WHERE id = 2`)),
        outcome(b.unsafe(`UPDATE ${table} SET v = v + 1 WHERE id = 1`)),
      ]);
      expect([ra, rb].sort()).toEqual(["deadlock detected", "ok"]);
      await a`ROLLBACK`;
      await b`ROLLBACK`;
      a.release();
      b.release();

      const e = await rc.waitForEvent("pg-deadlock", (x) => pids.includes(x.fields.waiter ?? ""));
      fromLog(e);
      // One record: the ERROR line and its DETAIL (with the tab-indented continuation lines), HINT,
      // CONTEXT and STATEMENT lines, each of which PostgreSQL writes as a line of its own.
      expect(e.message).toContain("ERROR:  deadlock detected");
      expect(e.message).toMatch(
        /DETAIL: {2}Process \d+ waits for ShareLock on transaction \d+; blocked by process \d+\./,
      );
      expect(e.message).toContain(`\tProcess ${e.fields.blocker} waits for ShareLock on transaction`);
      expect(e.message).toContain(`UPDATE ${table} SET v = v + 1 WHERE id = `);
      expect(e.message).toContain("HINT:  See server log for query details.");
      expect(e.message).toContain(`STATEMENT:  UPDATE ${table}`);
      expect(new Set([e.fields.waiter, e.fields.blocker])).toEqual(new Set(pids));
      expect(e.fields.lock).toBe("ShareLock");
      // The DETAIL lines are not events of their own.
      const deadlocks = (await rc.events()).filter((x) => x.message.includes("deadlock detected"));
      expect(deadlocks).toHaveLength(1);
    } finally {
      await pool.close();
    }
  });

  test("nothing else: the server's LOG lines (start-up, checkpoints) match no pattern", async () => {
    expect(readFileSync(pg.logFile, "utf8")).toContain(
      "LOG:  database system is ready to accept connections",
    );
    await rc.waitUntilAllShipped();
    expect(await shippedIds(rc)).toEqual([
      "pg-database-not-exist",
      "pg-deadlock",
      "pg-password-auth-failed",
      "pg-syntax-error",
      "pg-too-many-clients",
      "pg-too-many-clients",
    ]);
  });
});

describe("Redis: its logfile (and the replies it does not log)", () => {
  let plain: RedisServer;
  let nobody: UnprivilegedRedis;
  let rc: RealCollector;
  const clients: Redis[] = [];
  const connect = (port: number) => {
    const r = new Redis({ host: "127.0.0.1", port, maxRetriesPerRequest: 0, enableOfflineQueue: true });
    clients.push(r);
    return r;
  };
  /** The error reply to `args`, or null if the command succeeded. */
  const replyError = (r: Redis, cmd: string, ...args: string[]) =>
    r.call(cmd, ...args).then(
      () => null,
      (err: Error) => err.message,
    );

  beforeAll(async () => {
    [plain, nobody] = await Promise.all([
      startRedis({ maxmemory: "2mb", maxmemoryPolicy: "noeviction" }),
      // A save point: after a failed save, writes are refused with MISCONF.
      startUnprivilegedRedis({ save: "3600 1" }),
    ]);
    rc = await collectLogs([
      { client_id: "real-redis", service: "redis", logFile: plain.logFile },
      { client_id: "real-redis-nobody", service: "redis", logFile: nobody.logFile },
    ]);
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await rc?.stop();
    await Promise.all([plain?.stop(), nobody?.stop()]);
  });

  /** How an application reports a Redis reply to mcpmon: classify it with the patterns, POST /errors. */
  async function submitReply(reply: string): Promise<ErrorEvent> {
    const m = createMatcher(patterns).match("redis", reply);
    expect(m).not.toBeNull();
    const api = makeTestApp();
    try {
      const res = await api.call("POST", "/errors", {
        token: TOKENS.operator,
        body: {
          client_id: "app",
          host: "app-host-1",
          service: "redis",
          pattern_id: m!.pattern.id,
          severity: m!.pattern.severity,
          category: m!.pattern.category,
          message: reply,
        },
      });
      expect(res.status).toBe(202);
      const entries = await api.broker.range(api.broker.keys.errors);
      expect(entries).toHaveLength(1);
      return JSON.parse(entries[0]!.fields.data!) as ErrorEvent;
    } finally {
      await api.broker.close();
    }
  }

  test.if(readFileSync("/proc/sys/vm/overcommit_memory", "utf8").trim() === "0")(
    "the overcommit_memory warning written at every start → redis-overcommit-warning",
    async () => {
      const e = await rc.waitForEvent("redis-overcommit-warning", (x) => x.client_id === "real-redis");
      expect(e.source?.path).toBe(plain.logFile);
      expect(e.message).toContain("# WARNING Memory overcommit must be enabled!");
      expect(e.severity).toBe("warning");
      // The unprivileged server started on the same host says the same.
      await rc.waitForEvent("redis-overcommit-warning", (x) => x.client_id === "real-redis-nobody");
    },
  );

  test("maxmemory 2mb with noeviction: the client is refused with OOM (not logged) → redis-oom-command via POST /errors", async () => {
    const r = connect(plain.port);
    const value = "v".repeat(256 * 1024);
    let reply: string | null = null;
    for (let i = 0; i < 64 && reply === null; i++) reply = await replyError(r, "SET", `oom:${i}`, value);
    expect(reply).toBe("OOM command not allowed when used memory > 'maxmemory'.");
    // Redis 7 writes nothing about it to its log: the reply is all there is.
    expect(readFileSync(plain.logFile, "utf8")).not.toContain("OOM");
    const e = await submitReply(reply!);
    expect(e.pattern_id).toBe("redis-oom-command");
    expect(e.severity).toBe("critical");
    expect(e.message).toBe(reply!);
  });

  test("a BGSAVE into a folder its user cannot write (0555) → redis-rdb-permission-denied + redis-bgsave-error; then MISCONF", async () => {
    const r = connect(nobody.port);
    expect(await r.set("k", "before")).toBe("OK");
    chmodSync(nobody.dataDir, 0o555);
    expect(String(await r.bgsave())).toBe("Background saving started"); // typed "OK" by ioredis
    // Written by the forked child (role C) and by the master (role M) once it has reaped it.
    const denied = await rc.waitForEvent(
      "redis-rdb-permission-denied",
      (x) => x.client_id === "real-redis-nobody",
    );
    expect(denied.source?.path).toBe(nobody.logFile);
    expect(denied.fields.dir).toBe(nobody.dataDir);
    expect(denied.fields.file).toMatch(/^temp-\d+\.rdb$/);
    expect(denied.message).toMatch(/^\d+:C .* # Failed opening the temp RDB file/);
    const bgErr = await rc.waitForEvent("redis-bgsave-error", (x) => x.client_id === "real-redis-nobody");
    expect(bgErr.message).toMatch(/^\d+:M .* # Background saving error$/);
    // The consequence clients see (a reply, not a log line): writes are refused until a save succeeds.
    const reply = await replyError(r, "SET", "k", "after");
    expect(reply).toStartWith("MISCONF Redis is configured to save RDB snapshots");
    expect(readFileSync(nobody.logFile, "utf8")).not.toContain("MISCONF");
    const e = await submitReply(reply!);
    expect(e.pattern_id).toBe("redis-misconf");
  });

  test("nothing else: Redis's start-up lines and the successful saves match no pattern", async () => {
    // A save that works, for the contrast: "Background saving started/terminated with success".
    const r = connect(plain.port);
    expect(String(await r.bgsave())).toBe("Background saving started"); // typed "OK" by ioredis
    await waitFor("the successful save in the log", () =>
      readFileSync(plain.logFile, "utf8").includes("Background saving terminated with success"),
    );
    const overcommit = readFileSync("/proc/sys/vm/overcommit_memory", "utf8").trim() === "0";
    const expected = ["redis-bgsave-error", "redis-rdb-permission-denied"];
    if (overcommit) expected.push("redis-overcommit-warning", "redis-overcommit-warning");
    await rc.waitUntilAllShipped();
    expect(await shippedIds(rc)).toEqual(expected.sort());
  });
});
