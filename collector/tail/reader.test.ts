import { afterAll, describe, expect, test } from "bun:test";
import { appendFileSync, closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LineReader } from "./reader.ts";

const dir = mkdtempSync(join(tmpdir(), "mcpmon-reader-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Got {
  line: string;
  offset: number;
  size: number;
  truncated: boolean;
}

function readAll(path: string, opts: { chunkBytes?: number; maxLineBytes?: number } = {}, from = 0) {
  const fd = openSync(path, "r");
  const r = new LineReader(fd, from, opts);
  const got: Got[] = [];
  const sink = (line: string, offset: number, size: number, truncated: boolean) =>
    got.push({ line, offset, size, truncated });
  while (r.readChunk(sink) > 0);
  return { got, r, fd, sink };
}

describe("LineReader", () => {
  test("offsets and sizes tile the file exactly, across chunk boundaries", () => {
    const p = join(dir, "a.log");
    const lines = Array.from({ length: 500 }, (_, i) => `line ${i} ${"x".repeat(i % 37)}`);
    writeFileSync(p, `${lines.join("\n")}\n`);
    const { got, fd } = readAll(p, { chunkBytes: 64 });
    closeSync(fd);
    expect(got.map((g) => g.line)).toEqual(lines);
    let pos = 0;
    for (const g of got) {
      expect(g.offset).toBe(pos);
      pos += g.size;
    }
    expect(pos).toBe(Bun.file(p).size);
  });

  test("a last line without newline waits, then is given by flushPartial", () => {
    const p = join(dir, "b.log");
    writeFileSync(p, "one\ntw");
    const { got, r, fd, sink } = readAll(p);
    expect(got.map((g) => g.line)).toEqual(["one"]);
    expect(r.lineStart).toBe(4);
    appendFileSync(p, "o\nthr");
    while (r.readChunk(sink) > 0);
    expect(got.map((g) => g.line)).toEqual(["one", "two"]);
    expect(r.flushPartial(sink)).toBe(true);
    expect(got.at(-1)).toEqual({ line: "thr", offset: 8, size: 3, truncated: false });
    expect(r.lineStart).toBe(11);
    closeSync(fd);
  });

  test("a 10 MB line is cut at maxLineBytes and flagged; the next lines are intact", () => {
    const p = join(dir, "c.log");
    writeFileSync(p, `before\n${"A".repeat(10 * 1024 * 1024)}\nafter ünïcode\n`);
    const { got, fd } = readAll(p, { chunkBytes: 1 << 20, maxLineBytes: 65536 });
    closeSync(fd);
    expect(got.length).toBe(3);
    expect(got[1]!.truncated).toBe(true);
    expect(got[1]!.line.length).toBe(65536);
    expect(got[1]!.offset).toBe(7);
    expect(got[1]!.size).toBe(10 * 1024 * 1024 + 1);
    expect(got[2]!.line).toBe("after ünïcode");
    expect(got[2]!.offset).toBe(7 + 10 * 1024 * 1024 + 1);
  });

  test("invalid UTF-8, NUL bytes and CRLF break nothing", () => {
    const p = join(dir, "d.log");
    const bad = Buffer.concat([
      Buffer.from("x\u0000y\r\n"),
      Buffer.from([0xff, 0xfe, 0x41, 0xc3, 0x0a]),
      Buffer.from("ok\n"),
    ]);
    writeFileSync(p, bad);
    const { got, fd } = readAll(p, { chunkBytes: 3 });
    closeSync(fd);
    expect(got.map((g) => g.line)).toEqual(["x\u0000y", "\ufffd\ufffdA\ufffd", "ok"]);
    expect(got.map((g) => g.size)).toEqual([5, 5, 3]);
  });

  test("reads from a start offset", () => {
    const p = join(dir, "e.log");
    writeFileSync(p, "aa\nbb\ncc\n");
    const { got, fd } = readAll(p, {}, 3);
    closeSync(fd);
    expect(got.map((g) => [g.line, g.offset])).toEqual([
      ["bb", 3],
      ["cc", 6],
    ]);
  });
});
