/**
 * Shared helpers of the end-to-end tests (test/e2e-*.test.ts): the compiled binary (built once per
 * run when the sources are newer than it), and mcpmon processes with their output captured and a
 * guaranteed kill. The API clients are in e2e-api.ts, the nginx scenario in e2e-scenario.ts.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { PollAbort, pollFor } from "./e2e-api.ts";

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
  "mcp",
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
