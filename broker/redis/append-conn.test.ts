import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { isMcpError } from "../../core/errors.ts";
import type { StreamFields } from "../../core/schemas/codec.ts";
import { freePort } from "../../test/harness/ports.ts";
import { type RedisServer, startRedis } from "../../test/harness/redis.ts";
import { findProgram, tempDir } from "../../test/harness/tmp.ts";
import { uniquePrefix } from "../contract.ts";
import type { Broker } from "../types.ts";
import { AppendConn, XaddEncoder } from "./append-conn.ts";
import { createRedisBroker } from "./index.ts";

let server: RedisServer;
let reader: Broker; // reads back through ioredis, independent of the code under test
beforeAll(async () => {
  server = await startRedis();
  reader = createRedisBroker({ url: server.url, prefix: "reader:" });
});
afterAll(async () => {
  await reader?.close();
  await server?.stop();
});

const entries = (n: number, tag = "e"): StreamFields[] =>
  Array.from({ length: n }, (_, i) => ({
    type: "test",
    data: JSON.stringify({ tag, i, pad: "x".repeat(200) }),
  }));

async function withConn<T>(url: string, fn: (c: AppendConn) => Promise<T>, opts = {}): Promise<T> {
  const c = new AppendConn({ url, connectTimeoutMs: 2_000, ...opts });
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}

describe("AppendConn against a real redis-server", () => {
  for (const n of [1, 100, 1000]) {
    test(`a batch of ${n} gets one id per entry, in order, and the entries land in that order`, async () => {
      const key = `${uniquePrefix()}s`;
      const batch = entries(n);
      const ids = await withConn(server.url, (c) => c.append(key, batch));
      const stored = await reader.range(key);
      expect(ids).toEqual(stored.map((e) => e.id));
      expect(stored.map((e) => e.fields)).toEqual(batch);
    });
  }

  test("concurrent batches on one connection each get their own ids", async () => {
    const key = `${uniquePrefix()}s`;
    const batches = Array.from({ length: 20 }, (_, b) => entries(1 + b * 7, `b${b}`));
    const ids = await withConn(server.url, (c) => Promise.all(batches.map((batch) => c.append(key, batch))));
    const byId = new Map((await reader.range(key)).map((e) => [e.id, e.fields]));
    expect(byId.size).toBe(batches.reduce((n, b) => n + b.length, 0));
    batches.forEach((batch, b) => {
      expect(ids[b]!.map((id) => byId.get(id))).toEqual(batch);
    });
  });

  test("maxLen caps the stream with MAXLEN ~", async () => {
    const key = `${uniquePrefix()}s`;
    await withConn(server.url, async (c) => {
      for (let i = 0; i < 5; i++) await c.append(key, entries(400), 100);
    });
    const len = Number(await server.cli(["XLEN", key]));
    // `~` trims whole nodes (100 entries each by default): at least 100 kept, far fewer than 2000.
    expect(len).toBeGreaterThanOrEqual(100);
    expect(len).toBeLessThan(400);
  });

  test("values are binary safe: CR/LF, NUL, RESP look-alikes, unicode, empty and large", async () => {
    const key = `${uniquePrefix()}s`;
    const odd: StreamFields[] = [
      { data: "line1\r\nline2\n\r" },
      { data: "nul\u0000byte", "$3\r\nkey": "*2\r\n$1\r\n+" },
      { data: "ünïcödé 日本語 🚀👩‍💻", émoji: "🙂" },
      { data: "", empty: "" },
      { data: "€".repeat(70_000) }, // 210 kB of 3-byte characters: lengths must be bytes
    ];
    const ids = await withConn(server.url, (c) => c.append(key, odd));
    const stored = await reader.range(key);
    expect(stored.map((e) => e.id)).toEqual(ids);
    expect(stored.map((e) => e.fields)).toEqual(odd);
  });

  test("a batch larger than the socket buffers is written in pieces and arrives intact", async () => {
    const key = `${uniquePrefix()}s`;
    // 16 MB each: more than the kernel takes in one write, so the rest goes out on drain events
    // while the next batches queue up behind it (and reuse the encoder's buffer meanwhile).
    const big = (tag: string) =>
      Array.from({ length: 32 }, (_, i) => ({ data: `${tag}${i}:${"z".repeat(512 * 1024)}` }));
    const batches = [big("a"), big("b"), entries(3)];
    const ids = await withConn(server.url, (c) => Promise.all(batches.map((b) => c.append(key, b))));
    const stored = await reader.range(key);
    expect(stored.map((e) => e.id)).toEqual(ids.flat());
    expect(stored.map((e) => e.fields)).toEqual(batches.flat());
  });

  test("an error reply reaches the caller and the connection stays in step", async () => {
    const key = `${uniquePrefix()}s`;
    await server.cli(["SET", key, "a string"]);
    await withConn(server.url, async (c) => {
      const err = await c.append(key, entries(3)).catch((e) => e);
      expect(isMcpError(err)).toBe(true);
      expect(err.message).toContain("WRONGTYPE");
      // A bad entry in the middle rejects the batch; the replies after it are still consumed, so
      // the batch pipelined behind it gets its own ids, not the leftovers of this one.
      const other = `${uniquePrefix()}s`;
      const bad = [...entries(2), {}, ...entries(2)];
      const [err2, ids] = await Promise.all([
        c.append(other, bad).catch((e) => e),
        c.append(other, entries(3, "after")),
      ]);
      expect(err2.message).toContain("wrong number of arguments");
      const stored = await reader.range(other);
      expect(stored.slice(-3).map((e) => e.id)).toEqual(ids);
      expect(stored.slice(-3).map((e) => e.fields)).toEqual(entries(3, "after"));
    });
  });

  test("a stopped server rejects with BROKER_UNAVAILABLE, in flight and new; restart recovers", async () => {
    const own = await startRedis();
    const key = "s";
    try {
      await withConn(
        own.url,
        async (c) => {
          expect(await c.append(key, entries(1))).toHaveLength(1);
          // Writes are held while paused, so this batch is surely in flight when the server dies.
          await own.cli(["CLIENT", "PAUSE", "30000", "WRITE"]);
          const inFlight = c.append(key, entries(50)).catch((e) => e);
          await Bun.sleep(50);
          await own.kill();
          const err = await inFlight;
          expect(isMcpError(err, "BROKER_UNAVAILABLE")).toBe(true);
          expect(err.retryable).toBe(true);
          const down = await c.append(key, entries(1)).catch((e) => e);
          expect(isMcpError(down, "BROKER_UNAVAILABLE")).toBe(true);
          await own.restart();
          expect(await c.append(key, entries(2))).toHaveLength(2);
        },
        { connectTimeoutMs: 1_000 },
      );
    } finally {
      await own.stop();
    }
  }, 30_000);

  test("a server that stops answering fails the batch after commandTimeoutMs; the next one reconnects", async () => {
    const own = await startRedis();
    try {
      await withConn(
        own.url,
        async (c) => {
          await c.append("s", entries(1));
          await own.cli(["CLIENT", "PAUSE", "2000", "WRITE"]);
          const err = await c.append("s", entries(10)).catch((e) => e);
          expect(isMcpError(err, "BROKER_UNAVAILABLE")).toBe(true);
          expect(err.message).toContain("no reply within");
          await own.cli(["CLIENT", "UNPAUSE"]);
          expect(await c.append("s", entries(2))).toHaveLength(2);
        },
        { commandTimeoutMs: 300 },
      );
    } finally {
      await own.stop();
    }
  }, 30_000);

  test("nothing listening: BROKER_UNAVAILABLE, not a hang", async () => {
    const port = await freePort();
    const err = await withConn(`redis://127.0.0.1:${port}`, (c) => c.append("s", entries(1))).catch((e) => e);
    expect(isMcpError(err, "BROKER_UNAVAILABLE")).toBe(true);
  });

  test("ACL user and password, a requirepass password and the db from the URL", async () => {
    await server.cli(["ACL", "SETUSER", "appender", "on", ">p@ss:w0rd", "~*", "&*", "+@all"]);
    const base = server.url.replace("redis://", "");
    const key = `${uniquePrefix()}s`;
    const url = `redis://appender:${encodeURIComponent("p@ss:w0rd")}@${base}/3`;
    expect(await withConn(url, (c) => c.append(key, entries(2)))).toHaveLength(2);
    expect(await server.cli(["-n", "3", "XLEN", key])).toBe("2");
    expect(await server.cli(["XLEN", key])).toBe("0");
    const wrong = await withConn(`redis://appender:nope@${base}`, (c) => c.append(key, entries(1))).catch(
      (e) => e,
    );
    expect(isMcpError(wrong, "BROKER_UNAVAILABLE")).toBe(true);
    expect(wrong.message).toContain("WRONGPASS");

    const locked = await startRedis({ password: "s3cret" });
    try {
      expect(await withConn(locked.url, (c) => c.append("s", entries(1)))).toHaveLength(1);
      const none = await withConn(locked.url.replace(/\/\/.*@/, "//"), (c) =>
        c.append("s", entries(1)),
      ).catch((e) => e);
      expect(isMcpError(none, "BROKER_UNAVAILABLE")).toBe(true);
      expect(none.message).toContain("NOAUTH");
    } finally {
      await locked.stop();
    }
  });

  test("rediss:// speaks TLS", async () => {
    const openssl = findProgram("openssl");
    if (!openssl) return; // no way to make a certificate here; the plain tests still cover the protocol
    const tmp = tempDir("mcpmon-tls-");
    const [cert, key] = [`${tmp.path}/cert.pem`, `${tmp.path}/key.pem`];
    const gen = Bun.spawnSync([
      openssl,
      ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
      ...["-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1"],
      ...["-addext", "subjectAltName=IP:127.0.0.1"],
    ]);
    expect(gen.exitCode).toBe(0);
    const tlsPort = await freePort();
    const args = ["--tls-port", String(tlsPort), "--tls-cert-file", cert, "--tls-key-file", key];
    const own = await startRedis({ args: [...args, "--tls-auth-clients", "no"] });
    try {
      const url = `rediss://127.0.0.1:${tlsPort}`;
      const ca = await Bun.file(cert).text();
      const ids = await withConn(url, (c) => c.append("s", entries(100)), { tls: { ca } });
      expect(ids).toHaveLength(100);
      expect(await own.cli(["XLEN", "s"])).toBe("100");
      // An unknown CA is refused: the certificate is really checked.
      const err = await withConn(url, (c) => c.append("s", entries(1))).catch((e) => e);
      expect(isMcpError(err, "BROKER_UNAVAILABLE")).toBe(true);
    } finally {
      await own.stop();
      tmp.cleanup();
    }
  });

  test("close lets the batch in flight finish, then refuses new appends", async () => {
    const c = new AppendConn({ url: server.url });
    const key = `${uniquePrefix()}s`;
    const pending = c.append(key, entries(500));
    await Bun.sleep(0);
    await c.close();
    expect(await pending).toHaveLength(500);
    const err = await c.append(key, entries(1)).catch((e) => e);
    expect(isMcpError(err, "BROKER_UNAVAILABLE")).toBe(true);
  });
});

describe("XaddEncoder", () => {
  test("encodes RESP arrays with byte lengths and reuses its buffer safely across sizes", () => {
    const enc = new XaddEncoder();
    const one = enc.encode(["XADD", "k", "*"], [{ f: "é" }]).toString("utf8");
    expect(one).toBe("*5\r\n$4\r\nXADD\r\n$1\r\nk\r\n$1\r\n*\r\n$1\r\nf\r\n$2\r\né\r\n");
    const y = "y".repeat(100_000);
    const big = enc.encode(["XADD", "k", "*"], [{ f: y }]).toString("utf8");
    expect(big).toBe(`*5\r\n$4\r\nXADD\r\n$1\r\nk\r\n$1\r\n*\r\n$1\r\nf\r\n$100000\r\n${y}\r\n`);
    expect(enc.encode(["XADD", "k", "*"], [{ f: "é" }]).toString("utf8")).toBe(one);
  });
});
