import { describe, expect, test } from "bun:test";
import { COMMANDS, OPTIONS, parseCli } from "./args.ts";
import { COMMAND_HELP, HELP } from "./help.ts";
import { closest } from "./suggest.ts";

const usageError = (argv: string[]): string => {
  try {
    parseCli(argv);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error(`expected ${argv.join(" ")} to be refused`);
};

describe("parseCli", () => {
  test("help wins over everything else, per command", () => {
    expect(parseCli(["all", "--help"])).toMatchObject({ command: "all", help: true });
    expect(parseCli(["help", "collect"])).toMatchObject({ command: "collect", help: true });
    expect(parseCli(["collect", "-h", "--bogus"])).toMatchObject({ command: "collect", help: true });
    expect(parseCli(["--help"])).toMatchObject({ command: "help" });
    expect(parseCli([])).toMatchObject({ command: "", help: false });
    expect(parseCli(["--version"]).command).toBe("version");
  });

  test("options are parsed per command", () => {
    const a = parseCli(["collect", "-c", "a.yml", "--config=b.yml", "--data-dir", "/x"]);
    expect(a).toMatchObject({ command: "collect", configs: ["a.yml", "b.yml"], dataDir: "/x" });
    expect(parseCli(["serve", "--port", "8081"]).port).toBe(8081);
    expect(parseCli(["templates", "--loghub", "x.csv"])).toMatchObject({ positionals: ["x.csv"] });
    expect(parseCli(["policy", "check", "-s", "nginx", "--action", '{"a":1}']).flags.action).toBe('{"a":1}');
  });

  test("mistakes are refused with what to do instead", () => {
    expect(usageError(["colect"])).toBe('unknown command "colect" (did you mean "collect"?)');
    expect(usageError(["help", "polcy"])).toBe('unknown command "polcy" (did you mean "policy"?)');
    expect(usageError(["collect", "--confg", "x"])).toBe("unknown option --confg (did you mean --config?)");
    expect(usageError(["serve", "--xyz"])).toBe("unknown option --xyz");
    expect(usageError(["collect", "--loghub"])).toBe(
      "option --loghub does not apply to collect (see mcpmon collect --help)",
    );
    expect(usageError(["analyze", "--port", "1"])).toContain("--port does not apply to analyze");
    expect(usageError(["serve", "--config"])).toBe("option --config needs a value");
    expect(usageError(["serve", "--config", "--port", "1"])).toBe("option --config needs a value");
    expect(usageError(["serve", "-c", "a", "-c", "b"])).toBe(
      "option --config is given twice; serve takes one",
    );
    expect(usageError(["serve", "extra"])).toBe('serve takes no arguments, got "extra"');
    expect(usageError(["templates", "--loghub=yes", "x"])).toBe("option --loghub takes no value");
    expect(usageError(["serve", "--port", "80a"])).toContain(
      '--port: expected a TCP port (1-65535), got "80a"',
    );
  });

  test("the compose and systemd command lines still parse", () => {
    expect(parseCli(["serve", "--config", "/etc/mcpmon/mcp-config.yml"]).configs).toEqual([
      "/etc/mcpmon/mcp-config.yml",
    ]);
  });
});

describe("help texts", () => {
  test("every command has help that describes each of its options", () => {
    for (const [name, spec] of Object.entries(COMMANDS)) {
      const text = COMMAND_HELP[name];
      expect(text, name).toBeDefined();
      expect(text).toStartWith("Usage: mcpmon ");
      for (const o of spec.options) expect(text, `${name} --${o}`).toContain(`--${o}`);
      const short = spec.options.map((o) => OPTIONS[o]?.short).filter(Boolean);
      for (const s of short) expect(text, `${name} -${s}`).toContain(`-${s},`);
    }
  });

  test("the general help lists every command and every variable the shipped configs read", async () => {
    for (const name of Object.keys(COMMANDS)) expect(HELP).toContain(`  ${name} `);
    const { Glob } = Bun;
    const vars = new Set<string>();
    for await (const f of new Glob("configs/**/*.yml").scan({ cwd: `${import.meta.dir}/..` })) {
      const text = await Bun.file(`${import.meta.dir}/../${f}`).text();
      for (const m of text.matchAll(/\$\{([A-Z_][A-Z0-9_]*)/g)) vars.add(m[1]!);
    }
    expect(vars.size).toBeGreaterThan(5);
    for (const v of [...vars, "MCP_PATTERNS_DIR", "MCP_DEBUG", "ANTHROPIC_API_KEY"])
      expect(HELP).toContain(v);
  });
});

test("did-you-mean only for near misses", () => {
  expect(closest("colect", Object.keys(COMMANDS))).toBe("collect");
  expect(closest("sevre", Object.keys(COMMANDS))).toBe("serve");
  expect(closest("xyz", Object.keys(COMMANDS))).toBeUndefined();
});
