import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, isMcpError } from "../errors.ts";
import { CentralConfig, ClientConfig, loadCentralConfig, loadClientConfig, parseYamlText } from "./index.ts";

const root = join(import.meta.dir, "..", "..");

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e.message.split("\n");
    throw e;
  }
  throw new Error("expected a ConfigError");
}

describe("shipped configs", () => {
  test("configs/mcp-config.yml parses with the product description's keys", () => {
    const { config, clientFiles } = loadCentralConfig(join(root, "configs/mcp-config.yml"), {});
    expect(config.token_limits.max_tokens_per_minute).toBe(40000);
    expect(config.token_limits.batch_size).toBe(5);
    expect(config.processing.error_processors).toBe(3);
    expect(config.ssh_settings.connection_timeout).toBe(30);
    expect(config.api.port).toBe(8080);
    expect(config.broker.url).toBe("sqlite:.data/mcpmon.db");
    expect(clientFiles.length).toBeGreaterThan(0);
  });

  const clientDir = join(root, "configs/client-configs");
  for (const name of readdirSync(clientDir)) {
    test(`client config ${name} parses`, () => {
      const cfg = loadClientConfig(join(clientDir, name), {});
      expect(cfg.client_id.length).toBeGreaterThan(0);
      expect(cfg.max_line_bytes).toBe(65536);
    });
  }
});

describe("environment interpolation", () => {
  test("${VAR} and ${VAR:-default}, typed when the whole value is one reference", () => {
    const text = 'claude_api_key: "${KEY}"\napi:\n  port: ${PORT:-8080}\n  host: "${HOST:-0.0.0.0}"\n';
    const cfg = parseYamlText(text, "x.yml", CentralConfig, { env: { KEY: "sk-test", PORT: "9999" } });
    expect(cfg.claude_api_key).toBe("sk-test");
    expect(cfg.api.port).toBe(9999);
    expect(cfg.api.host).toBe("0.0.0.0");
  });

  test("ANTHROPIC_API_KEY works as well as CLAUDE_API_KEY", () => {
    const file = join(root, "configs/mcp-config.yml");
    expect(loadCentralConfig(file, { ANTHROPIC_API_KEY: "a" }).apiKey).toBe("a");
    expect(loadCentralConfig(file, { CLAUDE_API_KEY: "c" }).apiKey).toBe("c");
    expect(loadCentralConfig(file, {}).apiKey).toBe("");
  });

  test("MCP_DEBUG=true turns on debug logging", () => {
    const file = join(root, "configs/mcp-config.yml");
    expect(loadCentralConfig(file, { MCP_DEBUG: "true" }).config.logging.level).toBe("debug");
  });
});

describe("errors name file, line, key path and what was expected", () => {
  test("a wrong type", () => {
    const text = "claude:\n  model: x\ntoken_limits:\n  batch_size: five\n";
    const problems = problemsOf(() => parseYamlText(text, "configs/mcp-config.yml", CentralConfig));
    expect(problems).toEqual([
      'configs/mcp-config.yml:4 token_limits.batch_size: expected a positive integer, got "five"',
    ]);
  });

  test("an unknown key, and several problems at once", () => {
    const text = "processing:\n  error_processor: 3\napi:\n  port: 70000\n";
    const problems = problemsOf(() => parseYamlText(text, "c.yml", CentralConfig));
    expect(problems).toContain('c.yml:2 processing.error_processor: unknown key "error_processor"');
    expect(problems).toContain("c.yml:4 api.port: expected a TCP port (1-65535), got 70000");
  });

  test("a client config with a bad enum and a missing required key", () => {
    const text = "service_type: nginx\nread_from: middle\n";
    const problems = problemsOf(() => parseYamlText(text, "n.yml", ClientConfig));
    expect(problems).toContain('n.yml:1 client_id: missing required key "client_id"');
    expect(problems).toContain('n.yml:2 read_from: expected one of "end", "beginning", got "middle"');
  });

  test("invalid YAML is reported with its line", () => {
    const problems = problemsOf(() => parseYamlText("a: 1\nb: [1, 2\n", "bad.yml", CentralConfig));
    expect(problems[0]).toMatch(/^bad\.yml:2: invalid YAML/);
  });

  test("YAML errors point at the line of the mistake, not where the parser gave up", () => {
    const line = (text: string) => problemsOf(() => parseYamlText(text, "y.yml", CentralConfig))[0];
    expect(line("a: 1\n  b: 2\n")).toMatch(/^y\.yml:2: invalid YAML/);
    expect(line("api:\n  port: 1\n\tbad: 1\n")).toMatch(/^y\.yml:3: invalid YAML/);
    expect(line("api:\n  port: 1\napi:\n  host: x\n")).toMatch(/^y\.yml:3: invalid YAML/);
  });

  test("a value from an environment variable names the variable", () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a config file's ${VAR} reference
    const text = "api:\n  port: ${MCP_API_PORT:-8080}\n";
    const problems = problemsOf(() =>
      parseYamlText(text, "c.yml", CentralConfig, { env: { MCP_API_PORT: "abc" } }),
    );
    expect(problems).toEqual([
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the message quotes the reference
      'c.yml:2 api.port: expected a TCP port (1-65535), got "abc" (from ${MCP_API_PORT})',
    ]);
  });

  test("one enum style, log levels shown once", () => {
    const text = "executor:\n  auto_approve_max_risk: urgent\nlogging:\n  level: loud\n";
    const problems = problemsOf(() => parseYamlText(text, "c.yml", CentralConfig));
    expect(problems).toContain(
      'c.yml:2 executor.auto_approve_max_risk: expected one of "none", "low", "medium", "high", got "urgent"',
    );
    expect(problems).toContain(
      'c.yml:4 logging.level: expected one of "trace", "debug", "info", "warn", "error", "fatal", got "loud"',
    );
  });

  test("broker.url must have a supported scheme, in both schemas", () => {
    for (const url of ["http://x:6379", "redis:/x", "", "sqlite:"]) {
      const problems = problemsOf(() => parseYamlText(`broker:\n  url: "${url}"\n`, "c.yml", CentralConfig));
      expect(problems[0]).toStartWith("c.yml:2 broker.url: ");
    }
    for (const url of ["redis://h:1", "rediss://u:p@h:1/0", "sqlite:.data/x.db", "/var/lib/x.db", "x.db"]) {
      expect(parseYamlText(`broker:\n  url: "${url}"\n`, "c.yml", CentralConfig).broker.url).toBe(url);
    }
    const client = "client_id: a\nservice_type: nginx\nbroker:\n  url: ftp://x\n";
    expect(problemsOf(() => parseYamlText(client, "n.yml", ClientConfig))[0]).toStartWith(
      "n.yml:4 broker.url: expected redis://",
    );
  });

  test("errors carry the CONFIG_INVALID code", () => {
    try {
      parseYamlText("api: 3\n", "x.yml", CentralConfig);
    } catch (e) {
      expect(isMcpError(e, "CONFIG_INVALID")).toBe(true);
      return;
    }
    throw new Error("expected an error");
  });
});

describe("MCP_BROKER_URL", () => {
  const dir = mkdtempSync(join(tmpdir(), "mcpmon-broker-env-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const bare = join(dir, "bare-client.yml");
  writeFileSync(bare, "client_id: web-1\nservice_type: nginx\n");
  const explicit = join(dir, "explicit-client.yml");
  writeFileSync(explicit, "client_id: web-2\nservice_type: nginx\nbroker:\n  url: redis://10.0.0.9:6379\n");
  const central = join(dir, "central.yml");
  writeFileSync(central, "broker:\n  url: sqlite:/tmp/x.db\n");
  const env = { MCP_BROKER_URL: "redis+cluster://r1:7000,r2:7000" };

  test("overrides the broker of a client file without broker:, one with it, and the central file", () => {
    expect(loadClientConfig(bare, env).broker.url).toBe(env.MCP_BROKER_URL);
    expect(loadClientConfig(explicit, env).broker.url).toBe(env.MCP_BROKER_URL);
    expect(loadCentralConfig(central, env).config.broker.url).toBe(env.MCP_BROKER_URL);
    // Unset or empty: the file (or the default) stands.
    expect(loadClientConfig(bare, {}).broker.url).toBe("redis://127.0.0.1:6379");
    expect(loadClientConfig(explicit, { MCP_BROKER_URL: "" }).broker.url).toBe("redis://10.0.0.9:6379");
  });

  test("a malformed MCP_BROKER_URL is refused naming the variable", () => {
    expect(() => loadClientConfig(bare, { MCP_BROKER_URL: "http://x" })).toThrow(
      /MCP_BROKER_URL: expected redis:\/\//,
    );
  });
});
