/**
 * Shared helpers of the end-to-end tests (test/e2e-*.test.ts): the compiled binary (built once per
 * run when the sources are newer than it), mcpmon processes with their output captured and a
 * guaranteed kill, HTTP and WebSocket clients of the API, and the nginx scenario: a real nginx,
 * a patterns folder derived from the shipped patterns/nginx.yml with every path pointed into the
 * test's temp folders, and a fake Anthropic server that answers the "request body too large"
 * incident with a medium-risk config rewrite.
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parse, stringify } from "yaml";
import { type FakeAnthropic, startFakeAnthropic } from "./fakes/anthropic.ts";
import { findProgram, type NginxServer, startNginx, waitFor } from "./harness/index.ts";

export const ROOT = resolve(import.meta.dir, "..");
const BUN = process.execPath;
/** Folders and files whose content is compiled into the binary. */
const SOURCES = [
  "cli",
  "core",
  "collector",
  "analyzer",
  "executor",
  "api",
  "broker",
  "patterns",
  "package.json",
];

function newestMtime(path: string): number {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.mtimeMs;
  let max = st.mtimeMs;
  for (const name of readdirSync(path)) {
    if (name === "node_modules" || name.endsWith(".test.ts")) continue;
    max = Math.max(max, newestMtime(join(path, name)));
  }
  return max;
}

const mtime = (p: string) => (existsSync(p) ? statSync(p).mtimeMs : 0);
let built: Promise<string> | null = null;

/**
 * The compiled `mcpmon`: `dist/mcpmon` when it is newer than every source, else a binary built with
 * the same flags as scripts/build.sh into `.tmp/e2e-bin/mcpmon` (built at most once per run, and
 * renamed into place so that a concurrent run never executes a half-written file).
 */
export function mcpmonBinary(): Promise<string> {
  built ??= (async () => {
    const newest = Math.max(...SOURCES.map((s) => newestMtime(join(ROOT, s))));
    const dist = join(ROOT, "dist", "mcpmon");
    if (mtime(dist) > newest) return dist;
    const out = join(ROOT, ".tmp", "e2e-bin", "mcpmon");
    if (mtime(out) > newest) return out;
    mkdirSync(dirname(out), { recursive: true });
    const tmp = `${out}.${process.pid}`;
    const p = Bun.spawn(
      [
        BUN,
        "build",
        "cli/main.ts",
        "--compile",
        "--minify",
        "--bytecode",
        "--format=esm",
        "--external",
        "cpu-features",
        "--outfile",
        tmp,
      ],
      { cwd: ROOT, stdout: "pipe", stderr: "pipe" },
    );
    const [stdout, stderr, code] = await Promise.all([
      new Response(p.stdout).text(),
      new Response(p.stderr).text(),
      p.exited,
    ]);
    if (code !== 0) {
      rmSync(tmp, { force: true });
      throw new Error(`bun build --compile failed (${code}):\n${stdout}${stderr}`);
    }
    renameSync(tmp, out);
    return out;
  })();
  return built;
}

// ---------------------------------------------------------------------------------------------
// Processes

/**
 * Kills our children if this test process dies without afterAll (bun test runs no "exit"
 * listeners; a crash runs nothing): a shell reads pids from a pipe only we hold open, and on EOF
 * signals those whose command line still names the marker (pids get reused).
 */
let reaperShell: { write(pid: number): void } | null = null;
function reaper(): { write(pid: number): void } {
  if (reaperShell) return reaperShell;
  const marker = "mcpmon";
  const script = `trap "" INT TERM HUP; p=""; while read -r x; do p="$p $x"; done
    for x in $p; do grep -qsaF -- "$0" /proc/$x/cmdline && kill -9 $x; done`;
  const sh = Bun.spawn(["sh", "-c", script, marker], { stdin: "pipe", stdout: "ignore", stderr: "ignore" });
  sh.unref();
  reaperShell = {
    write(pid) {
      sh.stdin.write(`${pid}\n`);
      sh.stdin.flush();
    },
  };
  return reaperShell;
}

export interface McpmonProcess {
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  /** Everything written so far to stdout and stderr. */
  output(): string;
  /** Wait until the output matches (throws with the output when the process exits first). */
  waitForOutput(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Wait at most `timeoutMs` for the exit code; null when it did not exit in time. */
  exited(timeoutMs?: number): Promise<number | null>;
  /** Send `signal` and wait at most `timeoutMs` for the exit; null when it did not exit in time. */
  signal(signal: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  /** SIGKILL unless already gone; idempotent. */
  kill(): Promise<void>;
}

const live = new Set<McpmonProcess>();

/** Start `argv` (the binary or `bun cli/main.ts`) with a minimal environment, output captured. */
export function spawnMcpmon(
  argv: string[],
  opts: { cwd: string; env?: Record<string, string>; name?: string },
): McpmonProcess {
  // The system PATH only (no node_modules/.bin, no bun): the binary must need nothing else.
  const path = (process.env.PATH ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    .split(":")
    .filter((d) => d && !d.includes("node_modules") && !d.includes(".bun"))
    .join(":");
  const env: Record<string, string> = {
    PATH: path,
    HOME: opts.cwd,
    LANG: "C.UTF-8",
    ...opts.env,
  };
  const proc = Bun.spawn(argv, { cwd: opts.cwd, env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  reaper().write(proc.pid);
  let text = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const chunk of stream) {
      text += dec.decode(chunk, { stream: true });
      if (process.env.MCP_E2E_VERBOSE === "1")
        process.stderr.write(`[${opts.name ?? "mcpmon"}] ${dec.decode(chunk)}`);
    }
  };
  const pumped = Promise.all([pump(proc.stdout), pump(proc.stderr)]).catch(() => {});
  const handle: McpmonProcess = {
    proc,
    output: () => text,
    waitForOutput: (re, timeoutMs = 30_000) =>
      pollFor(
        `${opts.name ?? argv.join(" ")} to print ${re}`,
        () => {
          const m = re.exec(text);
          if (m) return m[0];
          if (proc.exitCode !== null || proc.signalCode !== null)
            throw new PollAbort(`exited ${proc.exitCode ?? proc.signalCode} before printing ${re}:\n${text}`);
          return null;
        },
        timeoutMs,
        50,
      ),
    async exited(timeoutMs = 20_000) {
      const code = await Promise.race([proc.exited, Bun.sleep(timeoutMs).then(() => null)]);
      await Promise.race([pumped, Bun.sleep(1000)]);
      return code;
    },
    async signal(sig, timeoutMs = 20_000) {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(sig);
      const code = await Promise.race([proc.exited, Bun.sleep(timeoutMs).then(() => null)]);
      await Promise.race([pumped, Bun.sleep(1000)]);
      return code;
    },
    async kill() {
      live.delete(handle);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      await proc.exited;
    },
  };
  live.add(handle);
  return handle;
}

/** SIGKILL every process started by spawnMcpmon that is still running (afterAll). */
export async function killAll(): Promise<void> {
  await Promise.all([...live].map((p) => p.kill()));
}

// ---------------------------------------------------------------------------------------------
// HTTP and WebSocket

export interface ApiClient {
  url: string;
  get<T = unknown>(path: string, token?: string): Promise<{ status: number; body: T }>;
  post<T = unknown>(path: string, body: unknown, token?: string): Promise<{ status: number; body: T }>;
  text(path: string, token?: string): Promise<{ status: number; body: string }>;
}

export function apiClient(url: string): ApiClient {
  const headers = (token?: string): Record<string, string> =>
    token ? { authorization: `Bearer ${token}` } : {};
  const json = async (res: Response) => {
    const t = await res.text();
    try {
      return JSON.parse(t);
    } catch {
      return t;
    }
  };
  return {
    url,
    async get(path, token) {
      const res = await fetch(`${url}${path}`, { headers: headers(token) });
      return { status: res.status, body: await json(res) };
    },
    async post(path, body, token) {
      const res = await fetch(`${url}${path}`, {
        method: "POST",
        headers: { ...headers(token), "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      return { status: res.status, body: await json(res) };
    },
    async text(path, token) {
      const res = await fetch(`${url}${path}`, { headers: headers(token) });
      return { status: res.status, body: await res.text() };
    },
  };
}

/** Thrown from a `pollFor` probe to stop polling at once (other errors are retried until the timeout). */
export class PollAbort extends Error {}

/**
 * Poll `probe` until it returns a value (not undefined/null/false) and return that value. An error
 * thrown by the probe is retried (the last one is reported on timeout), except PollAbort.
 */
export async function pollFor<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs = 30_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== null && v !== false) return v;
    } catch (err) {
      if (err instanceof PollAbort) throw new Error(`${what}: ${err.message}`);
      lastError = err;
    }
    if (Date.now() >= deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`,
      );
    await Bun.sleep(intervalMs);
  }
}

export interface WsMessage {
  type: string;
  channel?: string;
  event?: { type: string; channel: string; subject: string; data?: Record<string, unknown> };
  [k: string]: unknown;
}

export interface WsClient {
  messages: WsMessage[];
  subscribe(channel: string): Promise<void>;
  waitFor(what: string, pred: (m: WsMessage) => boolean, timeoutMs?: number): Promise<WsMessage>;
  close(): void;
}

/** Connect to `/ws?token=…` and wait for the welcome message. */
export async function wsClient(apiUrl: string, token: string): Promise<WsClient> {
  const ws = new WebSocket(`${apiUrl.replace(/^http/, "ws")}/ws?token=${encodeURIComponent(token)}`);
  const messages: WsMessage[] = [];
  let closed = false;
  ws.onmessage = (e) => {
    try {
      messages.push(JSON.parse(String(e.data)));
    } catch {
      messages.push({ type: "unparsable", raw: String(e.data) });
    }
  };
  ws.onclose = () => {
    closed = true;
  };
  const find = (what: string, pred: (m: WsMessage) => boolean, timeoutMs = 30_000) =>
    pollFor(
      `WebSocket: ${what}`,
      () => {
        const m = messages.find(pred);
        if (!m && closed) throw new PollAbort(`socket closed; got ${JSON.stringify(messages)}`);
        return m;
      },
      timeoutMs,
      25,
    );
  await find("welcome", (m) => m.type === "welcome", 10_000);
  return {
    messages,
    async subscribe(channel) {
      ws.send(JSON.stringify({ type: "subscribe", channel }));
      await find(`subscribed to ${channel}`, (m) => m.type === "subscribed" && m.channel === channel, 10_000);
    },
    waitFor: find,
    close: () => ws.close(),
  };
}

/** One sample of a Prometheus text exposition, e.g. `mcp_fixes_total{outcome="fixed"}`; 0 if absent. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries(
      [...(m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]),
    );
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

// ---------------------------------------------------------------------------------------------
// The nginx scenario

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
  // The shipped http rule allows port 80 only; the test nginx listens on its own port.
  for (const rule of spec.policy.rules)
    if (rule.type === "http") rule.url_prefixes = [nginx.url("/"), `http://localhost:${nginx.port}/`];
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
  /** A root-owned 0600 file under the web root: 403 until the rule fix (chmod 644) runs. */
  secretPath: string;
  secretUrl: string;
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
  const secretPath = join(nginx.htmlRoot, "secret.html");
  await Bun.write(secretPath, "<p>secret</p>\n");
  chmodSync(secretPath, 0o600);
  return {
    nginx,
    fake,
    secretPath,
    secretUrl: nginx.url("/secret.html"),
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

/** A minimal incident shape as GET /errors lists it. */
export interface IncidentView {
  incident_id: string;
  status: string;
  pattern_id: string;
  service: string;
  count: number;
  fields?: Record<string, string>;
  fix_ids?: string[];
}

export interface FixView {
  fix_id: string;
  incident_id: string;
  status: string;
  status_reason?: string;
  risk: string;
  source: string;
  actions: Array<Record<string, unknown>>;
  steps: Array<{ phase: string; ok?: boolean; [k: string]: unknown }>;
}

export interface Page<T> {
  total: number;
  items: T[];
}
