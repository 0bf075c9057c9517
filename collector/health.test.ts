// Health checks against real servers (nginx, Redis, PostgreSQL from test/harness): each check says
// "ok" while the server runs and "down" once it is stopped, and no check can hang a heartbeat.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import {
  freePort,
  type NginxServer,
  type PostgresServer,
  type RedisServer,
  startNginx,
  startPostgres,
  startRedis,
} from "../test/harness/index.ts";
import { resolveHealthCheck, runHealthCheck } from "./health.ts";

setDefaultTimeout(120_000);

describe("nginx", () => {
  let nginx: NginxServer;
  beforeAll(async () => {
    nginx = await startNginx();
  });
  afterAll(() => nginx?.stop());

  test("tcp and http checks are ok while it runs; a wrong status is degraded", async () => {
    const tcp = await runHealthCheck({ type: "tcp", host: "127.0.0.1", port: nginx.port });
    expect(tcp).toMatchObject({ health: "ok", detail: `port ${nginx.port} accepts connections` });
    const http = await runHealthCheck({ type: "http", url: nginx.url("/status"), expect_status: 200 });
    expect(http).toMatchObject({ health: "ok", detail: "HTTP 200" });
    const missing = await runHealthCheck({
      type: "http",
      url: nginx.url("/no-such-page"),
      expect_status: 200,
    });
    expect(missing).toMatchObject({ health: "degraded", detail: "HTTP 404, expected 200" });
  });

  test("both are down once nginx is stopped", async () => {
    const port = nginx.port;
    const url = nginx.url("/status");
    await nginx.stop();
    const tcp = await runHealthCheck({ type: "tcp", host: "127.0.0.1", port });
    expect(tcp.health).toBe("down");
    expect(tcp.detail).toMatch(/refused/i);
    expect((await runHealthCheck({ type: "http", url, expect_status: 200 })).health).toBe("down");
  });
});

describe("redis", () => {
  let redis: RedisServer;
  let locked: RedisServer;
  beforeAll(async () => {
    [redis, locked] = await Promise.all([startRedis(), startRedis({ password: "s3cret-health" })]);
  });
  afterAll(async () => {
    await Promise.all([redis?.stop(), locked?.stop()]);
  });

  test("PING is ok, also when the server wants a password (NOAUTH still proves it is up)", async () => {
    expect(await runHealthCheck({ type: "redis", url: redis.url })).toMatchObject({
      health: "ok",
      detail: "redis answers PING",
    });
    expect((await runHealthCheck({ type: "redis", url: `redis://127.0.0.1:${locked.port}` })).health).toBe(
      "ok",
    );
  });

  test("down once redis-server is stopped", async () => {
    await redis.stop();
    const r = await runHealthCheck({ type: "redis", url: redis.url });
    expect(r.health).toBe("down");
    expect(r.detail).toMatch(/refused/i);
  });
});

describe("postgres", () => {
  let pg: PostgresServer;
  beforeAll(async () => {
    pg = await startPostgres();
  });
  afterAll(() => pg?.stop());

  test("the postmaster answers the SSLRequest: ok without credentials", async () => {
    const r = await runHealthCheck({ type: "postgres", host: "127.0.0.1", port: pg.port });
    expect(r).toMatchObject({ health: "ok", detail: "postgres accepts connections" });
  });

  test("down once PostgreSQL is stopped", async () => {
    await pg.stop();
    const r = await runHealthCheck({ type: "postgres", host: "127.0.0.1", port: pg.port });
    expect(r.health).toBe("down");
  });
});

describe("command", () => {
  test("exit 0 is ok; another status is down with the program's stderr", async () => {
    expect(await runHealthCheck({ type: "command", program: "true", args: [] })).toMatchObject({
      health: "ok",
      detail: "true exited 0",
    });
    const r = await runHealthCheck({
      type: "command",
      program: "sh",
      args: ["-c", "echo not ready >&2; exit 3"],
    });
    expect(r).toMatchObject({ health: "down", detail: "sh exited 3: not ready" });
  });

  test("a program that does not exist is down, not a crash", async () => {
    const r = await runHealthCheck({ type: "command", program: "/nonexistent/mcpmon-check", args: [] });
    expect(r.health).toBe("down");
  });
});

describe("timeouts", () => {
  // A server that accepts connections and never answers: the worst case for a protocol check.
  let silent: TCPSocketListener<undefined>;
  const held: Socket<undefined>[] = [];
  beforeAll(() => {
    silent = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: { open: (s) => void held.push(s), data() {} },
    });
  });
  afterAll(() => {
    for (const s of held) s.end();
    silent.stop(true);
  });

  test("a silent server is down with 'no answer' instead of hanging the heartbeat", async () => {
    const port = silent.port;
    const pg = await runHealthCheck({ type: "postgres", host: "127.0.0.1", port }, 300);
    expect(pg).toMatchObject({ health: "down", detail: `no answer from 127.0.0.1:${port} within 300 ms` });
    const redis = await runHealthCheck({ type: "redis", url: `redis://127.0.0.1:${port}` }, 300);
    expect(redis.health).toBe("down");
    expect(redis.detail).toContain("no answer");
  });

  test("an http check and a hanging command are cut at the timeout", async () => {
    const http = await runHealthCheck(
      { type: "http", url: `http://127.0.0.1:${silent.port}/`, expect_status: 200 },
      300,
    );
    expect(http.health).toBe("down");
    const cmd = await runHealthCheck({ type: "command", program: "sleep", args: ["60"] }, 300);
    expect(cmd.health).toBe("down");
    expect(cmd.detail).toStartWith("sleep exited");
  });
});

describe("resolveHealthCheck", () => {
  test("the client config's keys are laid over the patterns file's check", async () => {
    const port = await freePort();
    expect(resolveHealthCheck({ type: "tcp", host: "127.0.0.1", port: 80 }, { port })).toEqual({
      type: "tcp",
      host: "127.0.0.1",
      port,
    });
    // Another type replaces the check as a whole: no key of the old one leaks into it.
    expect(resolveHealthCheck({ type: "tcp", host: "127.0.0.1", port: 80 }, { type: "redis" })).toEqual({
      type: "redis",
      url: "redis://127.0.0.1:6379",
    });
    expect(resolveHealthCheck(undefined)).toEqual({ type: "none" });
    expect((await runHealthCheck({ type: "none" })).health).toBe("unknown");
  });

  test("an invalid merged check is a readable error", () => {
    expect(() =>
      resolveHealthCheck({ type: "tcp", host: "127.0.0.1", port: 80 }, { port: "eighty" }),
    ).toThrow(/invalid health_check/);
  });
});
