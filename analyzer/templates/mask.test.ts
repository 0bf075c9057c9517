import { describe, expect, test } from "bun:test";
import { DEFAULT_MASK, maskMessage, renderTemplate, tokenize } from "./mask.ts";

const NO_KV = { ...DEFAULT_MASK, hostPorts: false, keyValues: false };

describe("masking", () => {
  test("structured values become the wildcard", () => {
    expect(
      maskMessage("from 10.0.0.1:5432 at http://x.example/a?b=1 id 123e4567-e89b-12d3-a456-426614174000"),
    ).toBe("from <*> at <*> id <*>");
    expect(maskMessage("addr 0x7fff1234 file /var/log/nginx/error.log mac 00:1a:2b:3c:4d:5e")).toBe(
      "addr <*> file <*> mac <*>",
    );
    expect(maskMessage('open "my file.txt" failed')).toBe("open <*> failed");
  });

  test("words with digits are values, sizes and durations included", () => {
    expect(tokenize("took 10ms for 12KB block blk_-42")).toEqual([
      "took",
      "<*>",
      "for",
      "<*>",
      "block",
      "<*>",
    ]);
  });

  test("a value embedded in a word masks the whole word, keeping key= and brackets", () => {
    expect(tokenize("rhost=host-10.1.2.3.example.net user=root", NO_KV)).toEqual([
      "rhost",
      "=",
      "<*>",
      "user",
      "=",
      "root",
    ]);
    expect(tokenize("synchronized to LOCAL(127.127.1.0), stratum 10")).toEqual([
      "synchronized",
      "to",
      "<*>",
      ",",
      "stratum",
      "<*>",
    ]);
    expect(tokenize("[173.234.31.186] (uid=0)")).toEqual(["[", "<*>", "]", "(", "uid", "=", "<*>", ")"]);
  });

  test("the value of a key=value pair and a host:port are values, however they are spelt", () => {
    expect(tokenize("user=root tty=NODEVssh")).toEqual(["user", "=", "<*>", "tty", "=", "<*>"]);
    expect(tokenize("user=root")).toEqual(tokenize("user=bob"));
    expect(tokenize("logname= uid=0")).toEqual(["logname", "=", "uid", "=", "<*>"]);
    expect(maskMessage("upstream db.internal:5432 refused")).toBe("upstream <*> refused");
    // Without the masks (a setting bench/grouping.ts weighs by leave-one-out), words stay words.
    expect(tokenize("user=root", NO_KV)).toEqual(["user", "=", "root"]);
    expect(maskMessage("upstream db.internal:5432 refused", NO_KV)).toBe("upstream db.internal:<*> refused");
  });

  test("punctuation splits consistently, so spacing does not change the tokens", () => {
    expect(tokenize("user=root", NO_KV)).toEqual(tokenize("user = root", NO_KV));
    expect(tokenize("a:b,c")).toEqual(["a", ":", "b", ",", "c"]);
  });

  test("runs of values collapse, so lists of any length tokenise alike", () => {
    expect(tokenize("ids 1, 2, 3 done")).toEqual(tokenize("ids 4 done"));
    expect(tokenize("at Sun Jul 10 03:55:21 2005")).toEqual(["at", "<*>"]);
  });

  test("empty brackets count as an empty value", () => {
    // Same token count as `(h.example)`, so both land in the same cluster.
    expect(tokenize("connection from 1.2.3.4 () at x")).toEqual([
      "connection",
      "from",
      "<*>",
      "(",
      "<*>",
      ")",
      "at",
      "x",
    ]);
  });

  test("templates render with the message's own spacing", () => {
    const spaces: boolean[] = [];
    const tokens = tokenize("user=root failed: code 7", undefined, spaces);
    expect(renderTemplate(tokens, spaces)).toBe("user=<*> failed: code <*>");
  });
});
