import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { isMcpError } from "../../core/errors.ts";
import { encode } from "../../core/schemas/codec.ts";
import { waitFor } from "../../test/harness/ports.ts";
import { type RedisServer, startRedis } from "../../test/harness/redis.ts";
import { brokerContract, uniquePrefix } from "../contract.ts";
import { createRedisBroker } from "./index.ts";

let server: RedisServer;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await server?.stop();
});

brokerContract("redis", (prefix) => createRedisBroker({ url: server.url, prefix }));

describe("redis broker against the real server", () => {
  test("appended entries show up in redis-cli XINFO STREAM", async () => {
    const b = createRedisBroker({ url: server.url, prefix: uniquePrefix() });
    try {
      const ids = await b.append(b.keys.errors, [encode("x", { n: 1 }), encode("x", { n: 2 })]);
      await b.ensureGroup(b.keys.errors, "analyzers", "0");
      const out = await server.cli(["XINFO", "STREAM", b.keys.errors]);
      const lines = out.split("\n");
      expect(lines[lines.indexOf("length") + 1]).toBe("2");
      expect(lines[lines.indexOf("groups") + 1]).toBe("1");
      expect(lines[lines.indexOf("last-generated-id") + 1]).toBe(ids[1]!);
      expect(out).toContain('{"n":2}');
    } finally {
      await b.close();
    }
  });

  test("append to a stopped Redis rejects with BROKER_UNAVAILABLE within a bounded time", async () => {
    const own = await startRedis();
    const b = createRedisBroker({ url: own.url, prefix: uniquePrefix(), connectTimeoutMs: 1_000 });
    try {
      await b.append(b.keys.errors, [encode("x", { n: 1 })]);
      await own.kill();
      const started = Date.now();
      const err = await b.append(b.keys.errors, [encode("x", { n: 2 })]).catch((e) => e);
      expect(isMcpError(err, "BROKER_UNAVAILABLE")).toBe(true);
      expect(err.retryable).toBe(true);
      expect(Date.now() - started).toBeLessThan(15_000);
      expect((await b.health()).ok).toBe(false);
      // It reconnects by itself once the server is back.
      await own.restart();
      const deadline = Date.now() + 20_000;
      let ids: string[] = [];
      while (ids.length === 0 && Date.now() < deadline) {
        ids = await b.append(b.keys.errors, [encode("x", { n: 3 })]).catch(() => []);
        if (ids.length === 0) await Bun.sleep(100);
      }
      expect(ids).toHaveLength(1);
    } finally {
      await b.close();
      await own.stop();
    }
  });

  test("a broker that cannot connect at all rejects instead of hanging", async () => {
    const b = createRedisBroker({
      url: "redis://127.0.0.1:1",
      prefix: uniquePrefix(),
      connectTimeoutMs: 300,
    });
    try {
      const err = await b.append(b.keys.errors, [encode("x", {})]).catch((e) => e);
      expect(isMcpError(err, "BROKER_UNAVAILABLE")).toBe(true);
    } finally {
      await b.close();
    }
  });

  test("ACL user and password from the URL", async () => {
    await server.cli(["ACL", "SETUSER", "mcpmon", "on", ">s3cret:pw", "~*", "&*", "+@all"]);
    const url = server.url.replace("redis://", "redis://mcpmon:s3cret%3Apw@");
    const b = createRedisBroker({ url, prefix: uniquePrefix() });
    const bad = createRedisBroker({
      url: url.replace("s3cret", "wrong"),
      prefix: uniquePrefix(),
      connectTimeoutMs: 500,
    });
    try {
      expect(await b.append(b.keys.errors, [encode("x", {})])).toHaveLength(1);
      const err = await bad.append(bad.keys.errors, [encode("x", {})]).catch((e) => e);
      expect(isMcpError(err, "BROKER_UNAVAILABLE")).toBe(true);
    } finally {
      await b.close();
      await bad.close();
    }
  });

  test("broker.wait_replicas: an append resolves only once a replica has it", async () => {
    const b = createRedisBroker({
      url: server.url,
      prefix: uniquePrefix(),
      waitReplicas: 1,
      commandTimeoutMs: 1_500,
    });
    // Without this the master waits 5 s for more replicas before it sends the first sync.
    await server.cli(["CONFIG", "SET", "repl-diskless-sync-delay", "0"]);
    const replica = await startRedis({ args: ["--replicaof", "127.0.0.1", String(server.port)] });
    try {
      await waitFor("the replica in sync", async () =>
        (await replica.cli(["INFO", "replication"])).includes("master_link_status:up"),
      );
      const ids = await b.append(b.keys.errors, [encode("x", { n: 1 })]);
      expect(ids).toHaveLength(1);
      expect(await replica.cli(["XLEN", b.keys.errors])).toBe("1");
      await replica.stop();
      // No replica left: the entry is in Redis but the append is not acknowledged (the caller resends).
      const err = await b.append(b.keys.errors, [encode("x", { n: 2 })]).catch((e) => e);
      expect(isMcpError(err, "BROKER_UNAVAILABLE")).toBe(true);
      expect(String(err.message)).toContain("0 of 1 replicas");
    } finally {
      await b.close();
      await replica.stop();
    }
  });
});
