import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { discover, globRoot } from "./discover.ts";

const dir = mkdtempSync(join(tmpdir(), "mcpmon-discover-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("a symlink to a log file is followed by a glob as by a plain path; folders and broken links are not files", () => {
  const logs = join(dir, "logs");
  const real = join(dir, "real");
  mkdirSync(join(logs, "sub"), { recursive: true });
  mkdirSync(real);
  writeFileSync(join(real, "app.log"), "x\n");
  writeFileSync(join(logs, "plain.log"), "y\n");
  writeFileSync(join(logs, "sub", "deep.log"), "z\n");
  symlinkSync(join(real, "app.log"), join(logs, "link.log"));
  symlinkSync(join(dir, "missing.log"), join(logs, "broken.log"));
  mkdirSync(join(logs, "folder.log"));
  symlinkSync(real, join(logs, "linked-folder"));
  expect(discover([globRoot(join(logs, "*.log"))])).toEqual([
    join(logs, "link.log"),
    join(logs, "plain.log"),
  ]);
  expect(discover([globRoot(join(logs, "link.log"))])).toEqual([join(logs, "link.log")]);
  expect(discover([globRoot(join(logs, "**/*.log"))])).toEqual([
    join(logs, "link.log"),
    join(logs, "plain.log"),
    join(logs, "sub", "deep.log"),
  ]);
});
