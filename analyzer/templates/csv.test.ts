import { describe, expect, test } from "bun:test";
import { csvLine, parseCsv, parseCsvRecords } from "./csv.ts";

describe("csv", () => {
  test("quoted fields keep commas, doubled quotes and line breaks", () => {
    const text = 'a,b,c\n1,"x, y","say ""hi"""\n2,"multi\nline",\r\n3,,"" \n';
    expect(parseCsv(text)).toEqual([
      ["a", "b", "c"],
      ["1", "x, y", 'say "hi"'],
      ["2", "multi\nline", ""],
      ["3", "", " "],
    ]);
  });

  test("no trailing newline, BOM and empty last field", () => {
    expect(parseCsv("\ufeffa,b\n1,")).toEqual([
      ["a", "b"],
      ["1", ""],
    ]);
  });

  test("records are keyed by header", () => {
    expect(parseCsvRecords('LineId,Content\n1,"a,b"\n')).toEqual([{ LineId: "1", Content: "a,b" }]);
  });

  test("unterminated quote is an error, not a silent truncation", () => {
    expect(() => parseCsv('a\n"oops')).toThrow(/unterminated/);
  });

  test("writing round-trips through parsing", () => {
    const fields = ["plain", "with,comma", 'with "quote"', "line\nbreak", 42];
    expect(parseCsv(csvLine(fields))).toEqual([fields.map(String)]);
  });
});
