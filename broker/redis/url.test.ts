import { expect, test } from "bun:test";
import { isMcpError } from "../../core/errors.ts";
import { createBroker } from "../index.ts";
import { parseRedisUrl } from "./url.ts";

test("broker.url forms for one node, a cluster and sentinels", () => {
  expect(parseRedisUrl("redis://127.0.0.1:6380/2")).toEqual({
    topology: "single",
    tls: false,
    nodes: [{ host: "127.0.0.1", port: 6380 }],
    db: 2,
  });
  expect(parseRedisUrl("rediss+cluster://u:p%40ss@a:7000,b,[::1]:7002")).toEqual({
    topology: "cluster",
    tls: true,
    nodes: [
      { host: "a", port: 7000 },
      { host: "b", port: 6379 },
      { host: "::1", port: 7002 },
    ],
    username: "u",
    password: "p@ss",
  });
  expect(parseRedisUrl("redis+sentinel://:pw@s1,s2:26380/mymaster/1?sentinel_password=spw")).toEqual({
    topology: "sentinel",
    tls: false,
    nodes: [
      { host: "s1", port: 26379 },
      { host: "s2", port: 26380 },
    ],
    password: "pw",
    masterName: "mymaster",
    db: 1,
    sentinelPassword: "spw",
  });
});

test("a malformed Redis URL is refused as CONFIG_INVALID without echoing the password", () => {
  for (const url of [
    "redis://a:1,b:2",
    "redis+sentinel://:hunter2@s1:26379",
    "redis+cluster://:hunter2@a:1/3",
  ]) {
    let err: unknown;
    try {
      createBroker(url);
    } catch (e) {
      err = e;
    }
    expect(isMcpError(err, "CONFIG_INVALID")).toBe(true);
    expect(String((err as Error).message)).not.toContain("hunter2");
  }
});
