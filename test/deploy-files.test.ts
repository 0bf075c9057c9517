import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";
import { parse } from "yaml";
import { type ApiHandle, startApi } from "../api/server.ts";
import { createEmbeddedBroker } from "../broker/index.ts";
import { parseCli } from "../cli/args.ts";
import { CentralConfig } from "../core/config/central.ts";
import { loadCentralConfig, loadClientConfig } from "../core/config/index.ts";
import { silentLogger } from "../core/log.ts";
import { freePort } from "./harness/ports.ts";
import { tempDir } from "./harness/tmp.ts";

/**
 * Docker cannot run on the test machines, so the deployment files are checked by reading them:
 * the compose file parses, has the product description's services with commands the CLI
 * accepts, and every config it names exists in configs/ and passes its schema with the
 * environment compose gives it; the Dockerfile's stages, user, ports and health check hold
 * (the health check is run for real against the API); the systemd units carry their hardening.
 */

const ROOT = join(import.meta.dir, "..");
const read = (p: string) => readFileSync(join(ROOT, p), "utf8");
const SUBCOMMANDS = ["all", "serve", "collect", "analyze", "execute"];

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  ports?: string[];
  container_name?: string;
  environment?: Record<string, string>;
  volumes?: string[];
  group_add?: string[];
  healthcheck?: { disable?: boolean; test?: string[] };
  depends_on?: Record<string, { condition: string }>;
}
// Compose supports YAML merge keys (<<: *anchor); yaml 2 needs `merge: true` for them.
const compose = parse(read("docker-compose.yml"), { merge: true }) as {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
};
const services = compose.services;

/** What compose would put in the environment: ${VAR:-default} → default, ${VAR:?msg} → a stand-in. */
function composeEnv(svc: Service): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, raw] of Object.entries(svc.environment ?? {})) {
    out[k] = String(raw).replace(/\$\{(\w+)(?::?([-?])([^}]*))?\}/g, (_, _name, op, arg) =>
      op === "-" ? arg : "set-by-operator",
    );
  }
  return out;
}

describe("docker-compose.yml", () => {
  test("has the product description's services, each running a real mcpmon subcommand", () => {
    expect(Object.keys(services).sort()).toEqual(
      ["error-processor", "fix-executor", "mcp-server", "nginx-client", "postgres-client", "redis"].sort(),
    );
    expect(services.redis!.image).toBe("redis:7");
    const expected: Record<string, string> = {
      "mcp-server": "serve",
      "error-processor": "analyze",
      "fix-executor": "execute",
      "nginx-client": "collect",
      "postgres-client": "collect",
    };
    for (const [name, sub] of Object.entries(expected)) {
      const svc = services[name]!;
      expect(svc.build).toBe(".");
      expect(Array.isArray(svc.command)).toBe(true);
      const args = parseCli(svc.command!);
      expect(args.command).toBe(sub);
      expect(SUBCOMMANDS).toContain(args.command);
      expect(args.configs.length).toBe(1);
      expect(svc.environment?.MCP_BROKER_URL).toBe("redis://redis:6379");
      expect(svc.depends_on?.redis?.condition).toBe("service_healthy");
    }
  });

  test("mcp-server publishes 8080 and 9090, listens on all interfaces, gets the Claude key; its health check is the API's", () => {
    const svc = services["mcp-server"]!;
    expect(svc.ports).toEqual(["8080:8080", "9090:9090"]);
    expect(svc.environment?.MCP_API_HOST).toBe("0.0.0.0");
    // biome-ignore lint/suspicious/noTemplateCurlyInString: compose interpolation, not a JS template
    expect(svc.environment?.CLAUDE_API_KEY).toBe("${CLAUDE_API_KEY:-}");
    expect(svc.environment?.MCP_ADMIN_TOKEN).toStartWith("${MCP_ADMIN_TOKEN:?");
    expect(svc.healthcheck?.disable).toBeUndefined();
    expect(svc.healthcheck?.test?.join(" ")).toContain("/health");
    // Workers have no API to ask.
    for (const name of ["error-processor", "fix-executor", "nginx-client", "postgres-client"]) {
      expect(services[name]!.healthcheck?.disable).toBe(true);
    }
  });

  test("error-processor can be scaled: no container_name, no published ports", () => {
    const svc = services["error-processor"]!;
    expect(svc.container_name).toBeUndefined();
    expect(svc.ports).toBeUndefined();
    for (const s of Object.values(services)) expect(s.container_name).toBeUndefined();
  });

  test("mounts: configs and ssh-keys read-only, host logs read-only, collector state in named volumes", () => {
    const mounts = (name: string) => services[name]!.volumes ?? [];
    for (const name of ["mcp-server", "error-processor", "fix-executor", "nginx-client", "postgres-client"]) {
      expect(mounts(name)).toContain("./configs:/etc/mcpmon:ro");
    }
    expect(mounts("fix-executor")).toContain("./ssh-keys:/var/lib/mcpmon/ssh-keys:ro");
    expect(mounts("nginx-client")).toContain("/var/log/nginx:/var/log/nginx:ro");
    expect(mounts("postgres-client")).toContain("/var/log/postgresql:/var/log/postgresql:ro");
    for (const name of ["nginx-client", "postgres-client"]) {
      const state = mounts(name).find((m) => m.endsWith(":/var/lib/mcpmon"));
      expect(state).toBeDefined();
      expect(Object.keys(compose.volumes ?? {})).toContain(state!.split(":")[0]!);
      expect(services[name]!.group_add).toEqual(["adm"]);
    }
  });

  test("every --config path is a file in configs/ that passes its schema with compose's environment", () => {
    for (const [name, svc] of Object.entries(services)) {
      if (!svc.build) continue; // redis runs its own image
      const args = parseCli(svc.command ?? []);
      for (const path of args.configs) {
        expect(path).toStartWith("/etc/mcpmon/");
        const local = join(ROOT, "configs", path.slice("/etc/mcpmon/".length));
        expect(existsSync(local)).toBe(true);
        const env = composeEnv(svc);
        if (args.command === "collect") {
          const client = loadClientConfig(local, env);
          expect(client.broker.url).toBe("redis://redis:6379");
          // The log paths the collector watches are under the folder mounted from the host.
          const logMount = (svc.volumes ?? []).find((m) => m.startsWith("/var/log/"))!.split(":")[1]!;
          for (const p of client.log_paths ?? []) expect(p.startsWith(`${logMount}/`)).toBe(true);
          expect(client.state_dir).toBe("/var/lib/mcpmon");
        } else {
          const central = loadCentralConfig(local, env).config;
          expect(central.broker.url).toBe("redis://redis:6379");
          if (name === "mcp-server") {
            expect(central.api.host).toBe("0.0.0.0");
            expect(central.api.port).toBe(8080);
            expect(central.api.tokens.map((t) => t.token)).toContain("set-by-operator");
          }
        }
      }
    }
  });
});

describe("Dockerfile", () => {
  const dockerfile = read("Dockerfile");
  const instructions = dockerfile
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));

  test("builds with the official Bun image from the lockfile and runs the binary on slim Debian as mcpmon", () => {
    const froms = instructions.filter((l) => l.startsWith("FROM "));
    expect(froms).toEqual(["FROM oven/bun:1.4.5 AS build", "FROM debian:bookworm-slim"]);
    expect(instructions).toContain("RUN bun install --frozen-lockfile --production");
    // scripts/build.sh writes dist/mcpmon, which the run stage copies.
    expect(read("scripts/build.sh")).toContain("--outfile dist/mcpmon");
    expect(instructions).toContain("COPY --from=build /src/dist/mcpmon /usr/local/bin/mcpmon");
    expect(instructions).toContain("USER mcpmon");
    expect(instructions).toContain("EXPOSE 8080 9090");
    expect(instructions).toContain('ENTRYPOINT ["/usr/local/bin/mcpmon"]');
    const cmd = JSON.parse(instructions.find((l) => l.startsWith("CMD "))!.slice(4)) as string[];
    expect(parseCli(cmd).command).toBe("serve");
    expect(existsSync(join(ROOT, "configs", "mcp-config.yml"))).toBe(true);
    // What the build stage copies before `COPY . .` must exist in the repository.
    for (const line of instructions.filter((l) => l.startsWith("COPY ") && !l.includes("--from"))) {
      const sources = line.split(/\s+/).slice(1, -1);
      for (const s of sources) if (s !== ".") expect(existsSync(join(ROOT, s))).toBe(true);
    }
    expect(instructions.some((l) => l.startsWith("COPY patterns/"))).toBe(true);
    expect(instructions.some((l) => l.startsWith("COPY configs/"))).toBe(true);
  });

  test(".dockerignore keeps dependencies, builds, data, git and secrets out of the context", () => {
    const ignored = read(".dockerignore")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"));
    for (const p of ["node_modules", "dist", ".data", ".git", ".tmp", "ssh-keys"])
      expect(ignored).toContain(p);
    // The build needs these, so they must not be ignored.
    for (const p of ["package-lock.json", "bunfig.toml", "scripts", "patterns", "configs"]) {
      expect(ignored).not.toContain(p);
    }
  });

  describe("HEALTHCHECK, run with bash as Docker would", () => {
    const line = instructions.find((l) => l.startsWith("HEALTHCHECK "))!;
    const argv = JSON.parse(line.slice(line.indexOf("CMD ") + 4)) as string[];
    let api: ApiHandle | null = null;
    const broker = createEmbeddedBroker({ path: ":memory:" });
    afterAll(async () => {
      await api?.stop();
      await broker.close();
    });
    const run = async (port: number) => {
      const proc = Bun.spawn(argv, {
        env: { ...process.env, MCP_API_PORT: String(port) },
        stdout: "ignore",
        stderr: "ignore",
      });
      const timer = setTimeout(() => proc.kill(), 10_000);
      const code = await proc.exited;
      clearTimeout(timer);
      return code;
    };

    test("passes against a healthy API and fails when nothing listens", async () => {
      expect(argv[0]).toBe("bash");
      const config = v.parse(CentralConfig, {});
      const started = await startApi({
        broker,
        config,
        log: silentLogger,
        version: "t",
        host: "127.0.0.1",
        port: 0,
      });
      api = started;
      expect(await run(started.port)).toBe(0);
      expect(await run(await freePort())).not.toBe(0);
      // compose's copy for mcp-server is the same check on the fixed port 8080.
      const composed = services["mcp-server"]!.healthcheck!.test!.slice(1);
      expect(composed.join(" ")).toContain("/dev/tcp/127.0.0.1/8080");
      const proc = Bun.spawn(
        composed.map((a) => a.replace("/8080 ", `/${started.port} `)),
        { stdout: "ignore" },
      );
      expect(await proc.exited).toBe(0);
    });
  });
});

describe("systemd units", () => {
  const unit = (p: string) => {
    const map = new Map<string, string[]>();
    for (const l of read(p).split("\n")) {
      const m = /^([A-Za-z]+)=(.*)$/.exec(l.trim());
      if (m) map.set(m[1]!, [...(map.get(m[1]!) ?? []), m[2]!]);
    }
    return (k: string) => map.get(k)?.join("\n");
  };
  const HARDENING: Record<string, string> = {
    NoNewPrivileges: "yes",
    ProtectSystem: "strict",
    ReadWritePaths: "/var/lib/mcpmon",
    ProtectHome: "yes",
    PrivateTmp: "yes",
    User: "mcpmon",
    StateDirectory: "mcpmon",
    Restart: "always",
  };

  test("mcpmon-collect@.service runs one collector per client config, can read logs, writes only its state", () => {
    const get = unit("deploy/systemd/mcpmon-collect@.service");
    expect(get("ExecStart")).toBe("/usr/local/bin/mcpmon collect --config /etc/mcpmon/client-configs/%i.yml");
    expect(parseCli(get("ExecStart")!.split(" ").slice(1)).command).toBe("collect");
    expect(get("SupplementaryGroups")).toBe("adm");
    for (const [k, val] of Object.entries(HARDENING)) expect(get(k)).toBe(val);
    expect(get("WantedBy")).toBe("multi-user.target");
  });

  test("mcpmon-serve.service runs serve with the central config, hardened the same way", () => {
    const get = unit("deploy/systemd/mcpmon-serve.service");
    expect(get("ExecStart")).toBe("/usr/local/bin/mcpmon serve --config /etc/mcpmon/mcp-config.yml");
    expect(parseCli(get("ExecStart")!.split(" ").slice(1)).command).toBe("serve");
    for (const [k, val] of Object.entries(HARDENING)) expect(get(k)).toBe(val);
  });

  test.skipIf(!Bun.which("systemd-analyze"))(
    "systemd-analyze verify finds nothing but the missing binary",
    async () => {
      const dir = tempDir("mcpmon-units-").path;
      try {
        // A template is verified through an instance.
        copyFileSync(
          join(ROOT, "deploy/systemd/mcpmon-collect@.service"),
          join(dir, "mcpmon-collect@nginx-client.service"),
        );
        copyFileSync(join(ROOT, "deploy/systemd/mcpmon-serve.service"), join(dir, "mcpmon-serve.service"));
        const proc = Bun.spawn(
          [
            "systemd-analyze",
            "verify",
            "--man=no",
            join(dir, "mcpmon-collect@nginx-client.service"),
            join(dir, "mcpmon-serve.service"),
          ],
          { stdout: "pipe", stderr: "pipe" },
        );
        const out = (await new Response(proc.stdout).text()) + (await new Response(proc.stderr).text());
        await proc.exited;
        const problems = out
          .split("\n")
          .filter((l) => l.trim() && !l.includes("/usr/local/bin/mcpmon is not executable"));
        expect(problems).toEqual([]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
