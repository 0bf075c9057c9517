import { expect, test } from "bun:test";
import { isMcpError } from "../core/errors.ts";
import { createBroker, hashTagged } from "./index.ts";

test("createBroker picks the implementation from the URL", async () => {
  const mem = createBroker(":memory:");
  expect(mem.kind).toBe("embedded");
  await mem.close();
  const sq = createBroker("sqlite::memory:", { prefix: "x:" });
  expect(sq.kind).toBe("embedded");
  expect(sq.keys.errors).toBe("x:errors");
  await sq.close();
  const r = createBroker("redis://127.0.0.1:1", { connectTimeoutMs: 100 });
  expect(r.kind).toBe("redis");
  await r.close();
  const err = (() => {
    try {
      createBroker("http://user:pw@host");
    } catch (e) {
      return e;
    }
  })();
  expect(isMcpError(err, "CONFIG_INVALID")).toBe(true);
  expect(String((err as Error).message)).not.toContain("pw");
});

test("on Redis every key of a prefix shares one hash tag; embedded keeps the plain names", async () => {
  expect(hashTagged("mcp:")).toBe("{mcp}:");
  expect(hashTagged("app-")).toBe("{app}-");
  expect(hashTagged("prod:{mcp}:")).toBe("prod:{mcp}:");
  const r = createBroker("redis://127.0.0.1:1", { connectTimeoutMs: 100 });
  const k = r.keys;
  const names = [k.errors, k.fixes, k.events, k.dlq, k.records("incident"), k.kv("m"), k.hash("templates")];
  expect(names).toEqual([
    "{mcp}:errors",
    "{mcp}:fixes",
    "{mcp}:events",
    "{mcp}:dlq",
    "{mcp}:state:incident",
    "{mcp}:kv:m",
    "{mcp}:hash:templates",
  ]);
  await r.close();
  const e = createBroker(":memory:");
  expect(e.keys.errors).toBe("mcp:errors");
  await e.close();
});
