import { expect, test } from "bun:test";
import { isMcpError } from "../core/errors.ts";
import { createBroker } from "./index.ts";

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
