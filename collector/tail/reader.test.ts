import { afterAll, describe, expect, test } from "bun:test";
import { appendFileSync, closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LINE_CUT, LINE_PARTIAL, LINE_REJOINED, LineReader, type ReaderOptions } from "./reader.ts";

const dir = mkdtempSync(join(tmpdir(), "mcpmon-reader-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Got {
  line: string;
  offset: number;
  size: number;
  flags: number;
  tail?: string;
}

function readAll(path: string, opts: ReaderOptions = {}, from = 0) {
  const fd = openSync(path, "r");
  const r = new LineReader(fd, from, opts);
  const got: Got[] = [];
  const sink = (line: string, offset: number, size: number, flags: number, tail?: string) =>
    got.push({ line, offset, size, flags, ...(tail !== undefined ? { tail } : {}) });
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

  test("a last line without newline waits; flushPartial gives it flagged, and its rest rejoins it", () => {
    const p = join(dir, "b.log");
    writeFileSync(p, "one\ntw");
    const { got, r, fd, sink } = readAll(p);
    expect(got.map((g) => g.line)).toEqual(["one"]);
    expect(r.lineStart).toBe(4);
    appendFileSync(p, "o\nthr");
    while (r.readChunk(sink) > 0);
    expect(got.map((g) => g.line)).toEqual(["one", "two"]);
    expect(r.peekPartial()).toBe("thr");
    expect(r.flushPartial(sink)).toBe(true);
    expect(got.at(-1)).toEqual({ line: "thr", offset: 8, size: 3, flags: LINE_PARTIAL });
    // Given once, kept: the checkpoint stays at its start until the newline comes.
    expect(r.flushPartial(sink)).toBe(false);
    expect(r.waitingPartial).toBe(false);
    expect(r.lineStart).toBe(8);
    appendFileSync(p, "ee\nfour\n");
    while (r.readChunk(sink) > 0);
    expect(got.slice(-2)).toEqual([
      { line: "three", offset: 8, size: 6, flags: LINE_REJOINED },
      { line: "four", offset: 14, size: 5, flags: 0 },
    ]);
    expect(r.lineStart).toBe(19);
    closeSync(fd);
  });

  test("a cut line keeps its last bytes as its tail, across chunks and in one chunk", () => {
    const p = join(dir, "tail.log");
    const long = `HEAD${"x".repeat(300_000)}ERROR at the end`;
    writeFileSync(p, `${long}\nshort ${"y".repeat(200)} ERROR end\nok\n`);
    for (const chunkBytes of [1024, 1 << 20]) {
      const { got, fd } = readAll(p, { chunkBytes, maxLineBytes: 100, tailBytes: 16 });
      closeSync(fd);
      expect(got.map((g) => [g.line.slice(0, 6), g.flags, g.tail])).toEqual([
        ["HEADxx", LINE_CUT, "ERROR at the end"],
        ["short ", LINE_CUT, "yyyyyy ERROR end"],
        ["ok", 0, undefined],
      ]);
    }
  });

  test("a 10 MB line is cut at maxLineBytes and flagged; the next lines are intact", () => {
    const p = join(dir, "c.log");
    writeFileSync(p, `before\n${"A".repeat(10 * 1024 * 1024)}\nafter ünïcode\n`);
    const { got, fd } = readAll(p, { chunkBytes: 1 << 20, maxLineBytes: 65536 });
    closeSync(fd);
    expect(got.length).toBe(3);
    expect(got[1]!.flags).toBe(LINE_CUT);
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
