/**
 * The nginx scenario of the end-to-end tests (test/e2e-*.test.ts): a real nginx, a patterns folder
 * derived from the shipped patterns/nginx.yml with every path pointed into the test's temp folders,
 * and a fake Anthropic server that answers the "request body too large" incident with a
 * medium-risk config rewrite.
 */
import { chmodSync, chownSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { parse, stringify } from "yaml";
import { ROOT } from "./e2e-process.ts";
import { type FakeAnthropic, startFakeAnthropic } from "./fakes/anthropic.ts";
import { findProgram, type NginxServer, startNginx, waitFor } from "./harness/index.ts";

/** Tokens for the three roles, written into the central config. */
export const TOKENS = {
  viewer: "e2e-viewer-token-0123456789",
  operator: "e2e-operator-token-0123456789",
  admin: "e2e-admin-token-0123456789",
};

export const tokensYaml = () =>
  Object.entries(TOKENS).map(([role, token]) => ({ name: `e2e-${role}`, token, role }));

/** The argv prefix that runs nginx against the harness's prefix and config. */
export function nginxArgv(nginx: NginxServer): string[] {
  const bin = findProgram("nginx");
  if (!bin) throw new Error("nginx not found");
  return [bin, "-p", nginx.prefix, "-c", nginx.confPath, "-e", nginx.errorLog];
}

/** The account that stands in for the site's deploy user in the end-to-end tests. */
export const DEPLOY_USER = { name: "daemon", uid: 1, gid: 1 };
const WEB_ROOTS = ["/var/www", "/var/www/html", "/srv/www", "/usr/share/nginx/html"];
const CONF_ROOTS = ["/etc/nginx"];

/**
 * patterns/nginx.yml as shipped, parsed with `yaml`, with every host path of its policy and
 * operations pointed at the test nginx: web roots → its html folder, /etc/nginx → its conf folder,
 * service operations → the nginx binary with its prefix, the log path, health port and the http
 * rule's URL prefixes → its own.
 * Patterns, examples and remediations are kept as they are. Returns the YAML text.
 */
export function nginxPatternsFor(nginx: NginxServer): string {
  const spec = parse(readFileSync(join(ROOT, "patterns", "nginx.yml"), "utf8")) as Record<string, unknown> & {
    policy: { rules: Array<Record<string, unknown>> };
  };
  const confDir = dirname(nginx.confPath);
  const mapRoot = (r: string) =>
    WEB_ROOTS.includes(r) ? nginx.htmlRoot : CONF_ROOTS.includes(r) ? confDir : r;
  const mapRoots = (roots: string[]) => [...new Set(roots.map(mapRoot))];
  let rewritten = 0;
  for (const rule of spec.policy.rules) {
    const shapes = [
      ...((rule.args as Array<Record<string, unknown>>) ?? []),
      rule as Record<string, unknown>,
    ];
    for (const shape of shapes) {
      const path = shape.path as { roots?: string[] } | undefined;
      if (path?.roots) {
        path.roots = mapRoots(path.roots);
        rewritten++;
      }
    }
  }
  if (rewritten === 0) throw new Error("patterns/nginx.yml: no policy path roots found to rewrite");
  // The shipped targets name www-data; `daemon` stands in for the deploy user an operator adds.
  for (const rule of spec.policy.rules) {
    const target = rule.target as { owners?: string[] } | undefined;
    if (target?.owners) target.owners = [...target.owners, DEPLOY_USER.name];
  }
  // The shipped http rule allows port 80 only; the test nginx listens on its own port.
  for (const rule of spec.policy.rules)
    if (rule.type === "http") {
      rule.url_prefixes = [nginx.url("/"), `http://localhost:${nginx.port}/`];
      rule.paths = ["/", "/status"];
    }
  const base = nginxArgv(nginx);
  spec.service_ops = {
    validate: { program: base[0], args: [...base.slice(1), "-t"] },
    reload: { program: base[0], args: [...base.slice(1), "-s", "reload"] },
    // A real restart is high risk and never approved here; keep it harmless and local.
    restart: { program: base[0], args: [...base.slice(1), "-s", "reload"] },
  };
  spec.config_files = [nginx.confPath];
  spec.log_paths = [nginx.errorLog];
  spec.health_check = { type: "tcp", host: "127.0.0.1", port: nginx.port };
  const text = stringify(spec, { lineWidth: 0 });
  for (const p of [...WEB_ROOTS, ...CONF_ROOTS])
    if (text.includes(`- ${p}\n`)) throw new Error(`patterns copy still allows ${p}`);
  return text;
}

export interface Scenario {
  nginx: NginxServer;
  fake: FakeAnthropic;
  /** A 0600 page of the deploy user under the web root: 403 until the rule fix (chmod 644) runs. */
  lockedPath: string;
  lockedUrl: string;
  /** The conf before the approved fix; the fix raises client_max_body_size of /upload. */
  confBefore: string;
  /** POST /upload with 4 KB: 413 before the approved fix, 200 after. */
  upload(): Promise<number>;
  /** Bytes in nginx's error log now (pass to `reloaded`). */
  logSize(): number;
  /**
   * Wait until a reload that started after `offset` has taken: `nginx -s reload` only signals the
   * master, which starts new workers and then tells the old ones to stop accepting. A request sent
   * before that may still meet an old worker and the old config (and log the error again).
   */
  reloaded(offset: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A real nginx (workers as nobody) and the fake Messages API. The fake answers the
 * `nginx-body-too-large` incident (no rule: it goes to Claude) with a medium-risk `write_file` of
 * the nginx config raising client_max_body_size, a reload and verify steps; any other incident
 * gets an empty proposal.
 */
export async function startScenario(): Promise<Scenario> {
  const nginx = await startNginx();
  const fake = await startFakeAnthropic({
    propose: (id, req) => {
      const start = req.raw.indexOf(`<incident id=\\"${id}\\"`);
      const block = start < 0 ? "" : req.raw.slice(start, req.raw.indexOf("</incident>", start));
      const base = { incident_id: id, confidence: 0.9, preconditions: [], rollback: [] };
      if (!block.includes("pattern: nginx-body-too-large")) {
        return {
          ...base,
          diagnosis: "not fixed in this test",
          root_cause: "n/a",
          risk: "low",
          actions: [],
          verify: [],
        };
      }
      const conf = readFileSync(nginx.confPath, "utf8");
      return {
        ...base,
        diagnosis: "Uploads to /upload exceed client_max_body_size (1k).",
        root_cause: "client_max_body_size 1k is too small for the uploads this site receives.",
        risk: "medium",
        actions: [
          {
            type: "write_file",
            path: nginx.confPath,
            content: conf.replace("client_max_body_size 1k;", "client_max_body_size 10m;"),
            mode: "0644",
          },
          { type: "service", op: "reload" },
        ],
        verify: [
          { type: "service", op: "validate" },
          { type: "http", url: nginx.url("/status"), expect_status: 200 },
        ],
      };
    },
  });
  // A page the deploy user wrote with mode 600 by mistake: plain content of the site, which the
  // rule may open up. A root-owned or secret-looking file would be refused.
  const lockedPath = join(nginx.htmlRoot, "team.html");
  await Bun.write(lockedPath, "<p>our team</p>\n");
  chmodSync(lockedPath, 0o600);
  chownSync(lockedPath, DEPLOY_USER.uid, DEPLOY_USER.gid);
  return {
    nginx,
    fake,
    lockedPath,
    lockedUrl: nginx.url("/team.html"),
    confBefore: readFileSync(nginx.confPath, "utf8"),
    upload: () =>
      fetch(nginx.url("/upload"), { method: "POST", body: "x".repeat(4096) }).then(async (r) => {
        await r.arrayBuffer();
        return r.status;
      }),
    logSize: () => statSync(nginx.errorLog).size,
    reloaded: (offset) =>
      waitFor(
        "nginx to finish its reload",
        () => {
          const text = readFileSync(nginx.errorLog).subarray(offset).toString("utf8");
          return /start worker process \d+/.test(text) && /gracefully shutting down/.test(text);
        },
        15_000,
      ),
    async stop() {
      await Promise.allSettled([nginx.stop(), fake.stop()]);
    },
  };
}
