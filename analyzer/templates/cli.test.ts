import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runTemplatesCommand } from "./cli.ts";
import { parseCsv } from "./csv.ts";

const dir = mkdtempSync(join(tmpdir(), "templates-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const LOG = [
  "2024-01-01 10:00:00 ERROR connect to db1 failed after 30s",
  "2024-01-01 10:00:01 ERROR connect to db2 failed after 10s",
  '2024-01-01 10:00:02 WARN disk "/var/lib, data" almost full',
  "2024-01-01 10:00:03 ERROR connect to db3 failed after 5s",
  "",
].join("\n");

async function run(args: Partial<Parameters<typeof runTemplatesCommand>[0]> & { file: string }) {
  const lines: string[] = [];
  const code = await runTemplatesCommand({ format: "text", loghub: false, ...args }, (s) => lines.push(s));
  return { code, lines };
}

describe("runTemplatesCommand", () => {
  const file = join(dir, "app.log");
  writeFileSync(file, LOG);
  const stripHeader = (l: string) => l.replace(/^\S+ \S+ \S+ /, "");

  test("text: groups sorted by count, with an example each", async () => {
    const { code, lines } = await run({ file, stripHeader });
    expect(code).toBe(0);
    expect(lines[1]).toMatch(/^\s*3 {2}connect to <\*> failed after <\*>\s+connect to db1 failed after 30s$/);
    expect(lines[2]).toMatch(/^\s*1 {2}disk <\*> almost full/);
    expect(lines.at(-1)).toBe("2 templates, 4 lines");
  });

  test("csv: quoted fields survive a round trip", async () => {
    const { lines } = await run({ file, stripHeader, format: "csv" });
    const rows = parseCsv(lines.join("\n"));
    expect(rows[0]).toEqual(["count", "template", "example"]);
    expect(rows[2]).toEqual(["1", "disk <*> almost full", 'disk "/var/lib, data" almost full']);
  });

  test("loghub: EventId in order of first appearance, final templates", async () => {
    const csv = join(dir, "x_structured.csv");
    writeFileSync(
      csv,
      'LineId,Content,EventId,EventTemplate\n1,open file a.txt size 1,E9,x\n2,"closed, ok",E8,y\n3,open file b.txt size 22,E9,x\n',
    );
    const { code, lines } = await run({ file: csv, loghub: true });
    expect(code).toBe(0);
    expect(lines).toEqual([
      "LineId,EventId,EventTemplate",
      "1,E1,open file <*> size <*>",
      '2,E2,"closed, ok"',
      "3,E1,open file <*> size <*>",
    ]);
  });

  test("missing file and non-LogHub CSV are usage errors (exit 2) and say why", async () => {
    const missing = await run({ file: join(dir, "nope.log") });
    expect(missing.code).toBe(2);
    expect(missing.lines[0]).toBe(`mcpmon: cannot read ${join(dir, "nope.log")}: no such file`);
    const r = await run({ file, loghub: true });
    expect(r.code).toBe(2);
    expect(r.lines[0]).toMatch(/^mcpmon: --loghub reads a LogHub \*_structured\.csv .*no Content column/);
  });
});
