import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { encode } from "../../core/schemas/codec.ts";
import { waitFor } from "../../test/harness/ports.ts";
import { type RedisSentinelSetup, startRedisSentinel } from "../../test/harness/redis-sentinel.ts";
import { brokerContract, uniquePrefix } from "../contract.ts";
import { createRedisBroker } from "./index.ts";

// A master, one replica and three sentinels on loopback (quorum 2).
let setup: RedisSentinelSetup;
beforeAll(async () => {
  setup = await startRedisSentinel();
}, 60_000);
afterAll(async () => {
  await setup?.stop();
});

brokerContract("redis sentinel", (prefix) => createRedisBroker({ url: setup.url, prefix }));

describe("redis broker through Sentinel", () => {
  test("after a failover the broker appends to the new master and keeps what it had", async () => {
    const b = createRedisBroker({ url: setup.url, prefix: uniquePrefix() });
    try {
      const before = await b.append(b.keys.errors, [encode("x", { n: 1 })]);
      // WAIT: the replica has the entry before it is promoted (a forced failover loses nothing
      // acknowledged by the replica).
      await setup.master.cli(["WAIT", "1", "5000"]);
      const sentinel = String(setup.sentinelPorts[0]);
      await setup.master.cli(["-p", sentinel, "SENTINEL", "FAILOVER", setup.name]);
      const oldPort = String(setup.master.port);
      await waitFor(
        "a new master",
        async () =>
          !(
            await setup.master.cli(["-p", sentinel, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", setup.name])
          ).includes(oldPort),
        20_000,
        100,
      );
      let after: string[] = [];
      await waitFor(
        "an append on the new master",
        async () => {
          after = await b.append(b.keys.errors, [encode("x", { n: 2 })]).catch(() => []);
          return after.length === 1;
        },
        20_000,
        200,
      );
      const ids = (await b.range(b.keys.errors)).map((e) => e.id);
      expect(ids).toEqual([before[0]!, after[0]!]);
    } finally {
      await b.close();
    }
  }, 60_000);
});
