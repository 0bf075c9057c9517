/**
 * Config mistakes caught by the CLI before anything starts (spawned `bun cli/main.ts`): the wrong
 * kind of file, a bad value from ${VAR}, clients:/patterns_dir/service_type that would fail at start,
 * an unusable state_dir, the broker down (exit 1, clear cause), a busy API port (exit 1, fast), and
 * the banner lines collect and serve print.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "./harness/ports.ts";
import { tempDir } from "./harness/tmp.ts";

const ROOT = join(import.meta.dir, "..");
const tmp = tempDir("mcpmon-cli-config-");
const live = new Set<Bun.Subprocess>();
afterAll(() => {
  for (const p of live) p.kill("SIGKILL");
  tmp.cleanup();
});

function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !/^(MCP_|CLAUDE_|ANTHROPIC_)/.test(k)) env[k] = v;
  return { ...env, ...extra };
}

function start(args: string[], env: Record<string, string> = {}) {
  const p = Bun.spawn([process.execPath, join(ROOT, "cli/main.ts"), ...args], {
    cwd: tmp.path,
    env: cleanEnv(env),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  live.add(p);
  let text = "";
  const dec = new TextDecoder();
  const pump = async (s: ReadableStream<Uint8Array>) => {
    for await (const chunk of s) text += dec.decode(chunk, { stream: true });
  };
  const pumped = Promise.all([pump(p.stdout), pump(p.stderr)]);
  return {
    output: () => text,
    async waitFor(re: RegExp, ms = 20_000) {
      const end = Date.now() + ms;
      while (!re.test(text)) {
        if (Date.now() > end || p.exitCode !== null) throw new Error(`no ${re} in:\n${text}`);
        await Bun.sleep(50);
      }
    },
    async stop() {
      p.kill("SIGTERM");
      const code = await p.exited;
      await pumped;
      live.delete(p);
      return code;
    },
    async exited() {
      const code = await p.exited;
      await pumped;
      live.delete(p);
      return { code, out: text };
    },
  };
}

const run = (args: string[], env: Record<string, string> = {}) => start(args, env).exited();

function write(name: string, text: string): string {
  const file = join(tmp.path, name);
  mkdirSync(join(file, ".."), { recursive: true });
  writeFileSync(file, text);
  return file;
}

const sqlite = (name: string) => `sqlite:${join(tmp.path, name)}`;

describe("the wrong kind of file", () => {
  test("a central config given to collect, a client config given to serve", async () => {
    const central = write("k/central.yml", `broker:\n  url: ${sqlite("k.db")}\n`);
    const client = write("k/client.yml", "client_id: a\nservice_type: nginx\n");
    const c = await run(["collect", "--config", central]);
    expect(c.code).toBe(2);
    expect(c.out).toContain(`mcpmon: ${central}: this is a central config`);
    expect(c.out).toContain("mcpmon collect needs a client config");
    const s = await run(["serve", "--config", client]);
    expect(s.code).toBe(2);
    expect(s.out).toContain(`mcpmon: ${client}: this is a client config`);
    expect(s.out).toContain("mcpmon serve needs the central config");
  });
});

describe("values and references", () => {
  test("a bad value from an environment variable names it; a missing key is called missing", async () => {
    const central = write(
      "v/central.yml",
      `broker:\n  url: ${sqlite("v.db")}\napi:\n  port: \${MCP_API_PORT:-8080}\n`,
    );
    const r = await run(["serve", "--config", central], { MCP_API_PORT: "abc" });
    expect(r.code).toBe(2);
    expect(r.out.trim()).toBe(
      `mcpmon: ${central}:4 api.port: expected a TCP port (1-65535), got "abc" (from \${MCP_API_PORT})`,
    );
    const client = write("v/client.yml", "service_type: nginx\n");
    const m = await run(["check-config", client]);
    expect(m.code).toBe(2);
    expect(m.out).toContain(`${client}:1 client_id: missing required key "client_id"`);
  });

  test("broker.url with an unsupported scheme: check-config and serve both exit 2 with file:line", async () => {
    const central = write("b/central.yml", "api:\n  port: 1234\nbroker:\n  url: http://localhost:6379\n");
    for (const args of [
      ["check-config", central],
      ["serve", "--config", central],
    ]) {
      const r = await run(args);
      expect(r.code).toBe(2);
      expect(r.out).toContain(`${central}:4 broker.url: expected redis://`);
    }
  });

  test("check-config follows clients:, patterns_dir and service_type", async () => {
    const bad = write("r/clients/bad.yml", "client_id: x\nservice_type: ngnix\n");
    const central = write(
      "r/central.yml",
      "clients:\n  - clients/missing.yml\n  - clients/bad.yml\npatterns_dir: nope\n",
    );
    const r = await run(["check-config", central, bad]);
    expect(r.code).toBe(2);
    expect(r.out).toContain(
      `${central}:2 clients.0: no such file: ${join(tmp.path, "r/clients/missing.yml")}`,
    );
    expect(r.out).toContain(`${central}:4 patterns_dir: no such folder: ${join(tmp.path, "r/nope")}`);
    expect(r.out).toContain(`${bad}:2 service_type: no patterns file for service "ngnix"`);
    expect(r.out).toContain("mcpmon: 2 of 2 file(s) invalid");
    mkdirSync(join(tmp.path, "r/nope"));
    const again = await run(["check-config", central]);
    // Now the folder loads, so the listed client is checked against it (with the shipped services).
    expect(again.out).toContain(`${bad}:2 service_type: no patterns file for service "ngnix"`);
  });
});

describe("collect checks before it starts", () => {
  test("service_type unknown: the real file path, not config #1, and nothing started", async () => {
    const bad = write("c/bad.yml", `client_id: x\nservice_type: ngnix\nbroker:\n  url: ${sqlite("c.db")}\n`);
    const r = await run(["collect", "--config", bad]);
    expect(r.code).toBe(2);
    expect(r.out).toContain(`mcpmon: ${bad}:2 service_type: no patterns file for service "ngnix"`);
    expect(r.out).not.toContain("config #");
    expect(r.out).not.toContain("collecting");
  });

  test("detect.min_level that is not a level of the service: check-config and collect name it, exit 2", async () => {
    const bad = write(
      "c/level.yml",
      `client_id: lv\nservice_type: postgres\nbroker:\n  url: ${sqlite("c.db")}\ndetect:\n  min_level: warn\n`,
    );
    for (const args of [
      ["check-config", bad],
      ["collect", "--config", bad],
    ]) {
      const r = await run(args);
      expect(r.code).toBe(2);
      expect(r.out).toContain(`${bad}:6 detect.min_level: expected one of DEBUG5,`);
      expect(r.out).toContain('(the levels of postgres), got "warn"');
    }
  });

  test("a state_dir that cannot be created names it and its file, exit 2", async () => {
    const file = write("c/file-not-dir", "x");
    const cfg = write(
      "c/state.yml",
      `client_id: s\nservice_type: nginx\nstate_dir: ${file}/sub\nbroker:\n  url: ${sqlite("c.db")}\n`,
    );
    const r = await run(["collect", "--config", cfg]);
    expect(r.code).toBe(2);
    expect(r.out.trim()).toBe(
      `mcpmon: ${cfg}:3 state_dir: "${file}/sub": a part of the path is a file, not a folder`,
    );
  });

  test("globs with no file yet are named", async () => {
    mkdirSync(join(tmp.path, "c/logs"), { recursive: true });
    writeFileSync(join(tmp.path, "c/logs/a.log"), "");
    const cfg = write(
      "c/ok.yml",
      [
        "client_id: ok",
        "service_type: nginx",
        `log_paths: ["${tmp.path}/c/logs/*.log", "${tmp.path}/c/none/*.log"]`,
        `state_dir: ${tmp.path}/c/state`,
        "broker:",
        `  url: ${sqlite("c-ok.db")}`,
        "",
      ].join("\n"),
    );
    const p = start(["collect", "--config", cfg]);
    await p.waitFor(/watching .*none/);
    expect(p.output()).toContain(`following ${tmp.path}/c/logs/a.log`);
    expect(p.output()).toContain(`watching ${tmp.path}/c/none/*.log (no file yet)`);
    expect(await p.stop()).toBe(0);
  });
});

describe("serve at start", () => {
  test("the broker down: exit 1 naming the broker and the cause", async () => {
    const port = await freePort();
    const central = write(
      "s/redis.yml",
      `broker:\n  url: redis://127.0.0.1:${port}\napi:\n  port: ${await freePort()}\n`,
    );
    const r = await run(["serve", "--config", central]);
    expect(r.code).toBe(1);
    expect(r.out).toContain(
      `mcpmon: cannot reach the broker redis://127.0.0.1:${port} (broker.url or MCP_BROKER_URL): `,
    );
    expect(r.out).toContain("ECONNREFUSED");
  }, 30_000);

  test("a busy API port fails fast with exit 1, before any worker runs", async () => {
    const busy = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("x") });
    try {
      const central = write(
        "s/busy.yml",
        `broker:\n  url: ${sqlite("busy.db")}\napi:\n  port: ${busy.port}\n  metrics_port: null\n`,
      );
      const started = Date.now();
      const r = await run(["serve", "--config", central]);
      expect(r.code).toBe(1);
      expect(r.out).toContain(`api.port ${busy.port} on 127.0.0.1 is already in use`);
      expect(r.out).not.toMatch(/analyzer|executor/i);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      busy.stop(true);
    }
  });

  test("a missing SSH key (relative to the config file) is a banner warning when executors may use SSH", async () => {
    const central = write(
      "w/central.yml",
      [
        `broker:\n  url: ${sqlite("w.db")}`,
        `api:\n  port: ${await freePort()}\n  metrics_port: null`,
        "processing:\n  error_processors: 0\n  fix_executors: 1",
        "ssh_settings:\n  private_key_path: keys/mcp_key",
        "",
      ].join("\n"),
    );
    const p = start(["serve", "--config", central]);
    await p.waitFor(/fixes {6}/);
    expect(p.output()).toContain(
      `WARNING    ssh key ${join(tmp.path, "w/keys/mcp_key")} (ssh_settings.private_key_path) is not readable: fixes over SSH will fail`,
    );
    expect(await p.stop()).toBe(0);
  });
});
