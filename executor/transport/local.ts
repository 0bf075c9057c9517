import { createHash, randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  lstatSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, isAbsolute, join } from "node:path";
import { McpError } from "../../core/errors.ts";
import {
  BoundedBuffer,
  DEFAULT_MAX_OUTPUT,
  type ExecOptions,
  type ExecResult,
  type FileStat,
  inheritedMode,
  type Transport,
  type WriteFileOptions,
} from "./types.ts";

/**
 * Runs fix actions on this host (for `mcpmon all` and tests). Commands are spawned from an argv
 * array: no shell is involved, so no argument can become syntax.
 */
export function createLocalTransport(opts: { defaultTimeoutMs?: number } = {}): Transport {
  const defaultTimeout = opts.defaultTimeoutMs ?? 60_000;
  return {
    target: "local",
    async exec(argv: string[], o: ExecOptions = {}): Promise<ExecResult> {
      return await spawnBounded(argv, o, defaultTimeout);
    },
    async readFile(path) {
      return readFileSync(path);
    },
    async writeFile(path, data, o: WriteFileOptions = {}) {
      let real: string;
      try {
        real = resolveForWrite(path);
      } catch (err) {
        throw new McpError("TRANSPORT", `cannot write ${path}: ${(err as Error).message}`, { cause: err });
      }
      const existing = safeStat(real);
      const tmp = join(dirname(real), `.mcpmon-${randomBytes(6).toString("hex")}`);
      try {
        writeFileSync(tmp, data, { mode: 0o600, flag: "wx" });
        const uid = o.uid ?? existing?.uid;
        const gid = o.gid ?? existing?.gid;
        // chown before chmod: chown clears set-id bits.
        if (uid !== undefined && gid !== undefined) chownSync(tmp, uid, gid);
        chmodSync(tmp, o.mode ?? (existing ? inheritedMode(existing.mode) : 0o644));
        renameSync(tmp, real);
      } catch (err) {
        rmSync(tmp, { force: true });
        throw new McpError("TRANSPORT", `cannot write ${path}: ${(err as Error).message}`, { cause: err });
      }
    },
    async stat(path): Promise<FileStat | null> {
      const st = safeStat(path);
      if (!st) return null;
      const isFile = st.isFile();
      return {
        mode: st.mode & 0o7777,
        uid: st.uid,
        gid: st.gid,
        size: st.size,
        sha256: isFile ? createHash("sha256").update(readFileSync(path)).digest("hex") : "",
        isFile,
        isDirectory: st.isDirectory(),
      };
    },
    async realpath(path) {
      const r = await spawnBounded(["realpath", "-m", "--", path], {}, 10_000);
      if (r.code !== 0) throw new McpError("TRANSPORT", `realpath ${path}: ${r.stderr.trim()}`);
      return r.stdout.replace(/\n$/, "");
    },
    async httpGet(url, timeoutMs = 10_000) {
      const res = await fetch(url, { redirect: "manual", signal: AbortSignal.timeout(timeoutMs) });
      await res.arrayBuffer();
      return { status: res.status };
    },
    async close() {},
  };
}

/**
 * The file a write of `path` replaces: a symlink at the last component is followed (the link
 * stays, its target is written), the folder is resolved with realpath.
 */
function resolveForWrite(path: string): string {
  let p = path;
  for (let i = 0; i < 40; i++) {
    let link = false;
    try {
      link = lstatSync(p).isSymbolicLink();
    } catch {}
    if (!link) return join(realpathSync(dirname(p)), basename(p));
    const to = readlinkSync(p);
    p = isAbsolute(to) ? to : join(dirname(p), to);
  }
  throw new Error(`${path}: too many levels of symlinks`);
}

function safeStat(path: string) {
  try {
    lstatSync(path);
    return statSync(path);
  } catch {
    return null;
  }
}

async function drain(stream: ReadableStream<Uint8Array> | undefined, into: BoundedBuffer): Promise<void> {
  if (!stream) return;
  for await (const chunk of stream) into.push(chunk);
}

/** Spawn argv with bounded capture and a hard timeout (SIGKILL: a fix step must not linger). */
export async function spawnBounded(
  argv: string[],
  o: ExecOptions,
  defaultTimeoutMs: number,
): Promise<ExecResult> {
  const started = performance.now();
  const limit = o.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
  const out = new BoundedBuffer(limit);
  const err = new BoundedBuffer(limit);
  let proc: Bun.Subprocess<"pipe", "pipe", "pipe">;
  try {
    proc = Bun.spawn(argv, { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  } catch (e) {
    // Program not found: report it like a shell would (127), not as a transport failure.
    return {
      code: 127,
      stdout: "",
      stderr: `${argv[0]}: ${(e as Error).message}`,
      stdoutBytes: new Uint8Array(),
      timedOut: false,
      truncated: false,
      durationMs: performance.now() - started,
    };
  }
  if (o.stdin !== undefined) proc.stdin.write(o.stdin);
  proc.stdin.end();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill("SIGKILL");
  }, o.timeoutMs ?? defaultTimeoutMs);
  try {
    await Promise.all([drain(proc.stdout, out), drain(proc.stderr, err), proc.exited]);
  } finally {
    clearTimeout(timer);
  }
  return {
    code: timedOut ? null : proc.exitCode,
    stdout: out.text(),
    stderr: err.text(),
    stdoutBytes: out.bytes(),
    timedOut,
    truncated: out.truncated || err.truncated,
    durationMs: performance.now() - started,
  };
}
