/**
 * `mcpmon` as a user types it (spawned `bun cli/main.ts`): help never runs anything, mistakes in
 * the command line exit 2 with one short `mcpmon: …` line, and the policy and templates commands
 * answer usage errors with 2.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./harness/tmp.ts";

const ROOT = join(import.meta.dir, "..");
const tmp = tempDir("mcpmon-cli-usage-");
afterAll(() => tmp.cleanup());

/** The environment without the operator's MCP_* settings, so results do not depend on the shell. */
function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !/^(MCP_|CLAUDE_|ANTHROPIC_)/.test(k)) env[k] = v;
  return { ...env, ...extra };
}

async function mcpmon(args: string[], opts: { stdin?: string; env?: Record<string, string> } = {}) {
  const p = Bun.spawn([process.execPath, join(ROOT, "cli/main.ts"), ...args], {
    cwd: tmp.path,
    env: cleanEnv(opts.env),
    stdin: opts.stdin === undefined ? "ignore" : new Blob([opts.stdin]),
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

describe("help", () => {
  test("bare mcpmon prints help to stderr and exits 2", async () => {
    const r = await mcpmon([]);
    expect(r.code).toBe(2);
    expect(r.out).toBe("");
    expect(r.err).toContain("Usage: mcpmon <command>");
  });

  test("mcpmon help prints the general help with the environment variables, exit 0", async () => {
    const r = await mcpmon(["help"]);
    expect(r.code).toBe(0);
    for (const v of [
      "MCP_BROKER_URL",
      "MCP_ADMIN_TOKEN",
      "MCP_API_PORT",
      "MCP_STATE_DIR",
      "MCP_DEMO_LOG_DIR",
    ])
      expect(r.out).toContain(v);
  });

  test("--help and -h print the overview; -V, -v and --version the version", async () => {
    const overview = (await mcpmon(["help"])).out;
    for (const flag of ["--help", "-h"]) {
      const r = await mcpmon([flag]);
      expect([r.code, r.out]).toEqual([0, overview]);
    }
    for (const flag of ["-V", "-v", "--version"]) {
      const r = await mcpmon([flag]);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/^mcpmon \d+\.\d+\.\d+ /);
    }
  });

  test("<cmd> --help and help <cmd> print that command's help, run nothing, exit 0", async () => {
    // A config that does not exist: loading it would fail, so exit 0 proves nothing was loaded.
    for (const cmd of [
      "all",
      "serve",
      "analyze",
      "execute",
      "collect",
      "templates",
      "policy",
      "check-config",
      "redact",
    ]) {
      const a = await mcpmon(
        [cmd, "--help", "--config", "/nonexistent.yml"].slice(0, cmd === "templates" ? 2 : 4),
      );
      expect(a.code, cmd).toBe(0);
      expect(a.out).toStartWith(`Usage: mcpmon ${cmd}`);
      expect(a.out).toContain("Example");
      expect(a.err).toBe("");
      const b = await mcpmon(["help", cmd]);
      expect(b.code).toBe(0);
      expect(b.out).toBe(a.out);
    }
    expect((await mcpmon(["policy", "check", "-h"])).out).toStartWith("Usage: mcpmon policy check");
  });
});

describe("command line mistakes: one line, exit 2", () => {
  const cases: Array<[string[], string]> = [
    [["colect"], 'mcpmon: unknown command "colect" (did you mean "collect"?)'],
    [["help", "colect"], 'mcpmon: unknown command "colect" (did you mean "collect"?)'],
    [["collect", "--confg", "x.yml"], "mcpmon: unknown option --confg (did you mean --config?)"],
    [
      ["collect", "--loghub"],
      "mcpmon: option --loghub does not apply to collect (see mcpmon collect --help)",
    ],
    [["collect"], "mcpmon: collect needs --config CLIENT.yml"],
    [["policy", "chek"], 'mcpmon: unknown policy subcommand "chek" (did you mean "check"?)'],
    [["check-config"], "mcpmon: check-config needs a FILE"],
  ];
  for (const [args, message] of cases) {
    test(args.join(" "), async () => {
      const r = await mcpmon(args);
      expect(r.code).toBe(2);
      expect(r.err.trim().split("\n")).toHaveLength(1);
      expect(r.err).toStartWith(message);
    });
  }
});

describe("policy check", () => {
  const chmod = '{"type":"run","program":"chmod","args":["644","/var/www/html/x.png"]}';

  test("an action that is not an action shape is a usage error naming the key", async () => {
    const r = await mcpmon([
      "policy",
      "check",
      "--service",
      "nginx",
      "--action",
      '[{"type":"run"},{"type":"nope"}]',
    ]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('mcpmon: action 0: missing required key "program"');
    expect(r.err).toContain(
      'mcpmon: action 1 type: expected one of "run", "write_file", "service", got "nope"',
    );
    expect(r.out).toBe("");
  });

  test("--config reads the central config's patterns_dir (relative to it), merged with the shipped files", async () => {
    const etc = join(tmp.path, "policy-etc");
    mkdirSync(join(etc, "pat"), { recursive: true });
    const nginx = readFileSync(join(ROOT, "patterns/nginx.yml"), "utf8");
    writeFileSync(join(etc, "pat", "myapp.yml"), nginx.replace(/^service: nginx$/m, "service: myapp"));
    writeFileSync(join(etc, "central.yml"), "patterns_dir: pat\n");
    const r = await mcpmon([
      "policy",
      "check",
      "-s",
      "myapp",
      "-c",
      join(etc, "central.yml"),
      "--action",
      chmod,
    ]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toContain(`policy of ${join(etc, "pat", "myapp.yml")}`);
    // The shipped services are still there.
    const shipped = await mcpmon(["policy", "check", "-s", "nginx", "-c", join(etc, "central.yml")], {
      stdin: chmod,
    });
    expect(shipped.code).toBe(0);
    // Without --config, myapp is unknown.
    const without = await mcpmon(["policy", "check", "-s", "myapp", "--action", chmod]);
    expect(without.code).toBe(2);
    expect(without.err).toContain('mcpmon: unknown service "myapp"');
  });
});

describe("templates", () => {
  test("--loghub on a raw log, a missing file, --format with --loghub: exit 2 saying why", async () => {
    const log = join(tmp.path, "app.log");
    writeFileSync(log, "connect to db1 failed\nconnect to db2 failed\n");
    const raw = await mcpmon(["templates", "--loghub", log]);
    expect(raw.code).toBe(2);
    expect(raw.err).toContain("mcpmon: --loghub reads a LogHub *_structured.csv");
    const missing = await mcpmon(["templates", join(tmp.path, "nope.log")]);
    expect(missing.code).toBe(2);
    expect(missing.err.trim()).toBe(`mcpmon: cannot read ${join(tmp.path, "nope.log")}: no such file`);
    const both = await mcpmon(["templates", "--loghub", "--format", "text", log]);
    expect(both.code).toBe(2);
    expect(both.err).toContain("leave out --format");
    const ok = await mcpmon(["templates", log]);
    expect(ok.code).toBe(0);
    expect(ok.out).toContain("1 templates, 2 lines");
  });
});
