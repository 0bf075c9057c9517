import { describe, expect, test } from "bun:test";
import { redactDeep } from "./index.ts";

describe("redactDeep", () => {
  test("a value under a secret key goes whole; other strings are redacted as text", () => {
    const { value, count } = redactDeep({
      user: "bob",
      password: "hunter2",
      fields: { api_key: "abc123def", path: "/var/www" },
      stderr: "psql: connection to postgres://app:Zx9pQ2@db/shop failed",
      list: ["token=Qw3rTy9zX1", "ok"],
    });
    expect(value).toEqual({
      user: "bob",
      password: "[REDACTED:password]",
      fields: { api_key: "[REDACTED:secret]", path: "/var/www" },
      stderr: "psql: connection to postgres://app:[REDACTED:url-password]@db/shop failed",
      list: ["token=[REDACTED:secret]", "ok"],
    });
    expect(count).toBe(4);
    expect(JSON.stringify(value)).not.toContain("hunter2");
  });

  test("unchanged input is returned as the same object; look-alikes stay", () => {
    const input = {
      request_id: "3f2b8c1e-9d4a-4f6b-8e2a-1c5d7e9f0a3b",
      max_tokens: 4096,
      session_timeout: "30",
      auth: "ok",
    };
    expect(redactDeep(input).value).toBe(input);
  });
});
