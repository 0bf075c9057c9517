/**
 * How the executor reaches a host. There is no way to pass a shell command line: `exec` takes an
 * argv array, and the SSH transport quotes every element for the remote shell.
 */
export interface ExecOptions {
  /** Kill the command after this long; the result says timedOut. */
  timeoutMs?: number;
  /** Bytes written to the command's stdin, then closed. */
  stdin?: Uint8Array | string;
  /** Largest stdout/stderr kept, each (default 64 KiB); beyond it output is cut and flagged. */
  maxOutputBytes?: number;
  /** Run without sudo even when the transport uses it (reads of the executor's own files). */
  noSudo?: boolean;
}

export interface ExecResult {
  /** Exit code; null when the command was killed (timeout) or the channel closed without one. */
  code: number | null;
  stdout: string;
  stderr: string;
  /** Raw stdout, for file reads. */
  stdoutBytes: Uint8Array;
  timedOut: boolean;
  /** True when stdout or stderr was longer than maxOutputBytes and was cut. */
  truncated: boolean;
  durationMs: number;
}

export interface FileStat {
  /** Permission bits, e.g. 0o644. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  sha256: string;
  isFile: boolean;
  isDirectory: boolean;
}

export interface WriteFileOptions {
  /**
   * Permission bits of the new file; default: the existing file's without group/other write
   * (`& 0o7777 & ~0o022`: an inherited mode is never looser than 0o755), else 0o644.
   */
  mode?: number;
  uid?: number;
  gid?: number;
}

export interface Transport {
  /** Where this transport runs commands (for records and logs): `ssh://user@host:port` or `local`. */
  readonly target: string;
  exec(argv: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Whole file content; throws when it does not exist. */
  readFile(path: string): Promise<Uint8Array>;
  /**
   * Atomic replace of the file `path` names: a symlink is followed (its target is replaced, the
   * link stays), a temp file is written beside the resolved file with owner and mode, then renamed
   * over it. No root check: fix actions write through `writeResolved` (hostops.ts), which checks.
   */
  writeFile(path: string, data: Uint8Array | string, opts?: WriteFileOptions): Promise<void>;
  /**
   * null when the path does not exist (a dangling symlink does not). Symlinks are followed: the
   * mode, owner and checksum are the target's. sha256 is of the content for files, "" for folders.
   */
  stat(path: string): Promise<FileStat | null>;
  /** The path with every symlink resolved (the path need not exist: `realpath -m`). */
  realpath(path: string): Promise<string>;
  /** GET a URL as seen from the host (SSH: through a forwarded channel). */
  httpGet(url: string, timeoutMs?: number): Promise<{ status: number }>;
  close(): Promise<void>;
}

export const DEFAULT_MAX_OUTPUT = 64 * 1024;

/** Collects a stream's bytes up to a limit; beyond it the rest is counted and dropped. */
export class BoundedBuffer {
  private chunks: Uint8Array[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly limit: number) {}
  push(chunk: Uint8Array): void {
    const room = this.limit - this.size;
    if (room <= 0) {
      if (chunk.length > 0) this.truncated = true;
      return;
    }
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (part.length < chunk.length) this.truncated = true;
    this.chunks.push(part);
    this.size += part.length;
  }
  bytes(): Uint8Array {
    return Buffer.concat(this.chunks);
  }
  text(): string {
    const s = Buffer.concat(this.chunks).toString("utf8");
    return this.truncated ? `${s}\n[… cut at ${this.limit} bytes]` : s;
  }
}

/**
 * `stat -L -c '%a %u %g %s %F'` + `sha256sum` (shared by remote implementations). `-L`: a symlink
 * reports its target's mode, never the link's own 777, which a write would otherwise inherit.
 */
export const STAT_SCRIPT =
  'if [ ! -e "$1" ]; then echo missing; exit 0; fi; ' +
  'stat -L -c "%a %u %g %s %F" -- "$1" && if [ -f "$1" ]; then sha256sum -- "$1" | cut -d" " -f1; fi';

export function parseStat(out: string): FileStat | null {
  const lines = out.trim().split("\n");
  if (lines[0] === "missing") return null;
  const [mode, uid, gid, size, ...type] = (lines[0] ?? "").split(" ");
  const kind = type.join(" ");
  return {
    mode: Number.parseInt(mode ?? "0", 8),
    uid: Number(uid),
    gid: Number(gid),
    size: Number(size),
    sha256: lines[1]?.trim() ?? "",
    isFile: kind.startsWith("regular"),
    isDirectory: kind === "directory",
  };
}

/**
 * Atomic replace as one constant script; the file's path, mode and owner are positional arguments
 * ($1..$3), never part of the script text. stdin is the new content. The path is resolved first
 * (`realpath -m`): a symlink's target is replaced in its own folder and the link stays a link.
 * chown before chmod: chown clears set-id bits.
 */
export const WRITE_SCRIPT =
  'set -e; p=$(realpath -m -- "$1"); d=$(dirname -- "$p"); t=$(mktemp "$d/.mcpmon-XXXXXX"); ' +
  'trap \'rm -f -- "$t"\' EXIT; cat > "$t"; if [ -n "$3" ]; then chown "$3" -- "$t"; fi; ' +
  'chmod "$2" -- "$t"; mv -f -T -- "$t" "$p"; trap - EXIT';

/** The mode a rewritten file inherits from the file it replaces: never group/other-writable. */
export function inheritedMode(existing: number): number {
  return existing & 0o7777 & ~0o022;
}
