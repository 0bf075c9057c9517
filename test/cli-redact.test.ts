/**
 * `mcpmon redact` as an operator runs it (spawned `bun cli/main.ts`): one output line per input
 * line with the secrets gone and the look-alikes intact, stdin or a file, --service joins
 * multiline records as the collector does, --explain names the rules on stderr, exit 0.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./harness/tmp.ts";

const ROOT = join(import.meta.dir, "..");
const tmp = tempDir("mcpmon-cli-redact-");
afterAll(() => tmp.cleanup());

async function mcpmon(args: string[], stdin?: string) {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !/^(MCP_|CLAUDE_|ANTHROPIC_)/.test(k)) env[k] = v;
  const p = Bun.spawn([process.execPath, join(ROOT, "cli/main.ts"), ...args], {
    cwd: tmp.path,
    env,
    stdin: stdin === undefined ? "ignore" : new Blob([stdin]),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  return { code, out, err };
}

const LINES = [
  "2026-12-04 20:13:10.439 UTC [9116] LOG:  statement: ALTER ROLE mcpmon PASSWORD 'Harbor3596';",
  '127.0.0.1 - - [04/Dec/2026:20:13:17 +0000] "GET /cart HTTP/1.1" 200 3 cookie="theme=dark; sessionid=DPtL6Za2VxBOB64R81WLVzaoePWYNQu6"',
  "request_id=3f2b8c1e-9d4a-4f6b-8e2a-1c5d7e9f0a3b trace_id=4bf92f3577b34da6a3ce929d0e0e4736",
  "+ redis-cli -h cache -a Copper3850 ping",
];

describe("mcpmon redact", () => {
  test("stdin: one line out per line in, secrets gone, look-alikes byte-identical, exit 0", async () => {
    const r = await mcpmon(["redact", "-"], `${LINES.join("\n")}\n`);
    expect(r.code).toBe(0);
    const out = r.out.split("\n").slice(0, -1);
    expect(out).toHaveLength(LINES.length);
    for (const s of ["Harbor3596", "DPtL6Za2VxBOB64R81WLVzaoePWYNQu6", "Copper3850"])
      expect(r.out).not.toContain(s);
    expect(out[2]).toBe(LINES[2]!);
    expect(out[0]).toContain("PASSWORD '[REDACTED:password]'");
    expect(r.err).toBe("");
  });

  test("a file, with --explain: the rules that fired per line on stderr, stdout unchanged by it", async () => {
    const file = join(tmp.path, "mixed.log");
    writeFileSync(file, `${LINES.join("\n")}\n`);
    const plain = await mcpmon(["redact", file]);
    const r = await mcpmon(["redact", file, "--explain"]);
    expect(r.code).toBe(0);
    expect(r.out).toBe(plain.out);
    expect(r.err).toContain("line 1: password (SQL password literal)");
    expect(r.err).toContain("line 2: session (secret key = value (any syntax))");
    expect(r.err).toContain("line 4: password (password option of a command-line tool)");
    expect(r.err).not.toContain("line 3");
    expect(r.err).toContain("4 lines, 3 lines changed, 3 secrets redacted");
  });

  test("--service joins a multiline record, so a key body without its own marker is redacted too", async () => {
    const record = [
      "2024-05-14 10:22:31,123 4242 ERROR shop odoo.addons.base: bad key:",
      "-----BEGIN RSA PRIVATE KEY-----",
      "MIIEpAIBAAKCAQEAabc",
      "shortlastlineXYZ",
      "-----END RSA PRIVATE KEY-----",
      "2024-05-14 10:22:32,123 4242 INFO shop odoo: ok",
    ].join("\n");
    const r = await mcpmon(["redact", "--service", "odoo"], `${record}\n`);
    expect(r.code).toBe(0);
    const out = r.out.split("\n").slice(0, -1);
    expect(out).toHaveLength(6);
    expect(out.slice(1, 5)).toEqual(Array(4).fill("[REDACTED:private-key]"));
    expect(r.out).not.toContain("shortlastlineXYZ");
    // Line by line (no --service), the short last body line has nothing to give it away.
    expect((await mcpmon(["redact"], `${record}\n`)).out).toContain("shortlastlineXYZ");
  });

  test("usage mistakes exit 2 with one line", async () => {
    const missing = await mcpmon(["redact", join(tmp.path, "nope.log")]);
    expect(missing.code).toBe(2);
    expect(missing.err.trim()).toBe(`mcpmon: cannot read ${join(tmp.path, "nope.log")}: no such file`);
    const service = await mcpmon(["redact", "--service", "nosuch"], "x\n");
    expect(service.code).toBe(2);
    expect(service.err).toStartWith('mcpmon: --service: no patterns file for "nosuch"');
    const help = await mcpmon(["redact", "--help"]);
    expect(help.code).toBe(0);
    expect(help.out).toStartWith("Usage: mcpmon redact");
  });
});
