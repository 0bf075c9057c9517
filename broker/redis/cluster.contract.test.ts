import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { encode } from "../../core/schemas/codec.ts";
import { type RedisCluster, startRedisCluster } from "../../test/harness/redis-cluster.ts";
import { findProgram, tempDir } from "../../test/harness/tmp.ts";
import { brokerContract, uniquePrefix } from "../contract.ts";
import { createRedisBroker } from "./index.ts";

// One real cluster (3 masters, 3 replicas) for the file; each test has its own prefix, hence its
// own hash tag, so the tests' keys spread over the three masters.
// The nodes also listen with TLS (a self-signed certificate for 127.0.0.1) when openssl is here.
let cluster: RedisCluster;
const tmp = tempDir("mcpmon-cluster-tls-");
const cert = join(tmp.path, "cert.pem");
const openssl = findProgram("openssl");
beforeAll(async () => {
  const key = join(tmp.path, "key.pem");
  const made =
    openssl !== null &&
    Bun.spawnSync([
      openssl,
      ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
      ...["-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1"],
      ...["-addext", "subjectAltName=IP:127.0.0.1"],
    ]).exitCode === 0;
  cluster = await startRedisCluster(made ? { tls: { cert, key, ca: cert } } : {});
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
  tmp.cleanup();
});

brokerContract("redis cluster", (prefix) => createRedisBroker({ url: cluster.url, prefix }));

// The same suite through a plain redis:// to one node: detected as a cluster at connect.
brokerContract("redis cluster (detected from redis://)", (prefix) =>
  createRedisBroker({ url: cluster.seedUrl, prefix }),
);

describe("redis broker on a real cluster", () => {
  test("the harness cluster has three masters with a replica each", async () => {
    const nodes = (await cluster.cli(["CLUSTER", "NODES"])).split("\n");
    expect(nodes.filter((l) => / master /.test(l) || /,master /.test(l))).toHaveLength(3);
    expect(nodes.filter((l) => /slave /.test(l))).toHaveLength(3);
  });

  test("a record change, its seen mark, its audit event and the DLQ live in one slot", async () => {
    const b = createRedisBroker({ url: cluster.url, prefix: uniquePrefix() });
    try {
      const k = b.keys;
      const names = [k.errors, k.fixes, k.events, k.dlq, k.records("incident"), k.kv("seen:x"), k.hash("t")];
      const slots = new Set(await Promise.all(names.map((n) => cluster.cli(["CLUSTER", "KEYSLOT", n]))));
      expect(slots.size).toBe(1);
      // The script that failed with CROSSSLOT in issue 13: record + version + mark + events.
      const v = await b.putRecordIfUnmarked(
        "incident",
        "i1",
        { n: 1 },
        0,
        { key: "m1", value: "1", ttlMs: 60_000 },
        [encode("incident_opened", { id: "i1" })],
      );
      expect(v).toBe(1);
      expect(await b.getRecord("incident", "i1")).toEqual({ version: 1, value: { n: 1 } });
      expect(await b.range(k.events)).toHaveLength(1);
      // redis-cli -c on any node finds the stream where the cluster put it.
      expect(await cluster.cli(["XLEN", k.events])).toBe("1");
    } finally {
      await b.close();
    }
  });

  test("rediss+cluster:// speaks TLS to every node and checks their certificate", async () => {
    if (!cluster.tlsUrl) return; // no openssl: no certificate to test with
    const ca = await Bun.file(cert).text();
    const b = createRedisBroker({ url: cluster.tlsUrl, prefix: uniquePrefix(), tls: { ca } });
    const stranger = createRedisBroker({
      url: cluster.tlsUrl,
      prefix: uniquePrefix(),
      connectTimeoutMs: 500,
    });
    try {
      // An append (pipeline), a group read and a record script, all over TLS.
      const ids = await b.append(b.keys.errors, [encode("x", { n: 1 })]);
      await b.ensureGroup(b.keys.errors, "g", "0");
      expect((await b.readGroup(b.keys.errors, "g", "c")).map((d) => d.id)).toEqual(ids);
      expect(await b.putRecord("incident", "i", { n: 1 }, 0)).toBe(1);
      // An unknown CA is refused: the certificate is really checked.
      expect((await stranger.health()).ok).toBe(false);
    } finally {
      await b.close();
      await stranger.close();
    }
  });

  test("ACL user and password from a redis+cluster:// URL", async () => {
    for (const n of cluster.nodes) {
      await n.cli(["ACL", "SETUSER", "mcpmon", "on", ">s3cret:pw", "~*", "&*", "+@all"]);
    }
    const url = cluster.url.replace("redis+cluster://", "redis+cluster://mcpmon:s3cret%3Apw@");
    const b = createRedisBroker({ url, prefix: uniquePrefix() });
    const bad = createRedisBroker({
      url: url.replace("s3cret", "wrong"),
      prefix: uniquePrefix(),
      connectTimeoutMs: 500,
    });
    try {
      expect(await b.append(b.keys.errors, [encode("x", {})])).toHaveLength(1);
      expect((await bad.health()).ok).toBe(false);
    } finally {
      await b.close();
      await bad.close();
    }
  });
});
