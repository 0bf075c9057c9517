import { afterAll, describe, expect, test } from "bun:test";
import type { Socket } from "bun";
import { isMcpError } from "../../core/errors.ts";
import { type RedisOptions, type RedisServer, startRedis } from "../../test/harness/redis.ts";
import type { BrokerDurability } from "../types.ts";
import { AppendConn } from "./append-conn.ts";
import { assessDurability, hasWaitAof } from "./durability.ts";
import { createRedisBroker } from "./index.ts";

const servers: RedisServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
});

describe("assessDurability", () => {
  test("no AOF: none, with a warning; 7.2+ with AOF: WAITAOF; older: only appendfsync always", () => {
    expect(assessDurability({ version: "7.0.15", aof: false, fsync: "everysec" }, false)).toMatchObject({
      mode: "none",
      warning: expect.stringContaining("appendonly no"),
    });
    expect(assessDurability({ version: "7.2.4", aof: true, fsync: "everysec" }, true).mode).toBe("waitaof");
    expect(assessDurability({ version: "7.0.15", aof: true, fsync: "always" }, true).mode).toBe(
      "fsync-always",
    );
    const d = assessDurability({ version: "7.0.15", aof: true, fsync: "everysec" }, true);
    expect([d.mode, d.problem]).toEqual([
      "none",
      "Redis 7.0.15 has appendfsync everysec and no WAITAOF (7.2+): an acknowledged append may not be on disk",
    ]);
    expect([hasWaitAof("7.2.0"), hasWaitAof("8.0.1"), hasWaitAof("7.0.15"), hasWaitAof("6.2.14")]).toEqual([
      true,
      true,
      false,
      false,
    ]);
  });
});

describe("against the real redis-server", () => {
  const cases: Array<[string, RedisOptions, BrokerDurability["mode"]]> = [
    ["no AOF", {}, "none"],
    ["AOF, everysec", { appendonly: true }, "none"],
    ["AOF, appendfsync always", { appendonly: true, args: ["--appendfsync", "always"] }, "fsync-always"],
  ];
  for (const [name, opts, mode] of cases) {
    test(`${name}: the broker reports ${mode}; a durable broker refuses appends it cannot keep`, async () => {
      const server = await startRedis(opts);
      servers.push(server);
      const broker = createRedisBroker({
        url: server.url,
        prefix: "d:",
        durable: true,
        connectTimeoutMs: 2000,
      });
      try {
        const d = await broker.durability!();
        expect(d.mode).toBe(hasWaitAof(d.version!) && d.aof ? "waitaof" : mode);
        const append = broker.append("d:s", [{ type: "t", data: "x" }]);
        if (d.mode === "none") {
          const err = await append.catch((e) => e);
          expect(isMcpError(err, "BROKER_NOT_DURABLE")).toBe(true);
        } else expect((await append).length).toBe(1);
      } finally {
        await broker.close();
      }
    });
  }
});

/**
 * A RESP server that answers XADD with ids and WAITAOF with `numlocal`: Debian's Redis 7.0 has no
 * WAITAOF, so its path is checked against this stand-in.
 */
function fakeRedis(numlocal: number) {
  const seen: string[] = [];
  let n = 0;
  const server = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(s: Socket, chunk: Buffer) {
        // Each command is an array of bulk strings; its name is the first bulk.
        const text = chunk.toString("latin1");
        for (const m of text.matchAll(/\*\d+\r\n\$\d+\r\n([A-Z]+)\r\n/g)) {
          seen.push(m[1]!);
          if (m[1] === "WAITAOF") s.write(`*2\r\n:${numlocal}\r\n:0\r\n`);
          else s.write(`$3\r\n1-${n++}\r\n`);
        }
      },
    },
  });
  return { url: `redis://127.0.0.1:${server.port}`, seen, stop: () => server.stop(true) };
}

describe("WAITAOF (Redis 7.2+)", () => {
  const probe = async (): Promise<BrokerDurability> => ({
    aof: true,
    version: "7.2.4",
    mode: "waitaof",
    required: true,
  });
  test("each batch is followed by WAITAOF 1 0 and resolves with the XADD ids once it confirms", async () => {
    const fake = fakeRedis(1);
    const c = new AppendConn({ url: fake.url, connectTimeoutMs: 1000 }, probe);
    try {
      expect(await c.append("s", [{ a: "1" }, { a: "2" }])).toEqual(["1-0", "1-1"]);
      expect(await c.append("s", [{ a: "3" }])).toEqual(["1-2"]);
      expect(fake.seen).toEqual(["XADD", "XADD", "WAITAOF", "XADD", "WAITAOF"]);
    } finally {
      await c.close();
      fake.stop();
    }
  });

  test("an fsync not confirmed in time rejects the batch (it stays in the spool)", async () => {
    const fake = fakeRedis(0);
    const c = new AppendConn({ url: fake.url, connectTimeoutMs: 1000 }, probe);
    try {
      const err = await c.append("s", [{ a: "1" }]).catch((e) => e);
      expect(isMcpError(err, "BROKER_UNAVAILABLE")).toBe(true);
      expect(String(err.message)).toContain("WAITAOF");
    } finally {
      await c.close();
      fake.stop();
    }
  });
});
