import { posix } from "node:path";
import type { FixStep } from "../core/schemas/fix.ts";
import { failedStep, type StepContext, stepFrom } from "./steps.ts";
import type { Transport } from "./transport/types.ts";

/** What was saved before a fix, written beside the copies so a crashed run can be undone later. */
export interface BackupEntry {
  path: string;
  existed: boolean;
  backup?: string;
  isDirectory?: boolean;
  mode?: number;
  uid?: number;
  gid?: number;
  sha256?: string;
  /** Folders: one line per entry inside (see `treeOf`), taken before the fix; a restore must match it. */
  tree?: string[];
}

export function backupDir(root: string, fixId: string): string {
  return posix.join(root, fixId.replace(/[^A-Za-z0-9_.-]/g, "_"));
}

/** Copy each target with `cp -a` (mode, owner, times kept) and write manifest.json. */
export async function backup(
  ctx: StepContext,
  dir: string,
  targets: string[],
  steps: (s: FixStep) => Promise<void>,
): Promise<{ ok: boolean; entries: BackupEntry[] }> {
  const entries: BackupEntry[] = [];
  await ctx.before?.(`create backup folder ${dir}`);
  const started = new Date();
  const mk = await ctx.transport.exec(["mkdir", "-p", "-m", "700", "--", dir]);
  if (mk.code !== 0) {
    await steps(stepFrom("backup", `create backup folder ${dir}`, started, mk, false));
    return { ok: false, entries };
  }
  for (const [i, path] of [...new Set(targets)].entries()) {
    await ctx.before?.(`back up ${path}`);
    const t0 = new Date();
    const st = await ctx.transport.stat(path);
    if (!st) {
      entries.push({ path, existed: false });
      await steps({
        phase: "backup",
        description: `${path} does not exist yet (a rollback removes it)`,
        ok: true,
        started_at: t0.toISOString(),
        duration_ms: Date.now() - t0.getTime(),
      });
      continue;
    }
    const copy = posix.join(dir, `${i}-${posix.basename(path)}`);
    const r = await ctx.transport.exec(["cp", "-a", "--", path, copy]);
    const ok = r.code === 0;
    await steps(stepFrom("backup", `cp -a ${path} ${copy}`, t0, r, ok));
    if (!ok) return { ok: false, entries };
    // A folder's listing is taken from the original, not the copy: if `cp -a` could not keep an
    // owner (no root), the restore must say MISMATCH rather than prove itself against the copy.
    const tree = st.isDirectory ? await treeOf(ctx.transport, path) : undefined;
    if (st.isDirectory && !tree) {
      await steps(failedStep("backup", `list folder ${path}`, t0, "cannot list the folder's files"));
      return { ok: false, entries };
    }
    entries.push({
      path,
      existed: true,
      backup: copy,
      isDirectory: st.isDirectory,
      ...(tree ? { tree } : {}),
      mode: st.mode,
      uid: st.uid,
      gid: st.gid,
      sha256: st.sha256,
    });
  }
  await ctx.transport.writeFile(posix.join(dir, "manifest.json"), JSON.stringify(entries, null, 2), {
    mode: 0o600,
  });
  return { ok: true, entries };
}

export async function readManifest(transport: Transport, dir: string): Promise<BackupEntry[] | null> {
  if (!(await transport.stat(posix.join(dir, "manifest.json")))) return null;
  return JSON.parse(Buffer.from(await transport.readFile(posix.join(dir, "manifest.json"))).toString("utf8"));
}

/**
 * Put every backed-up file back byte for byte with its mode and owner: `cp -a` to a temp name in
 * the same folder, then an atomic rename, then a stat to prove checksum, mode and owner match.
 * Folders (service config dirs) are swapped back whole, see `restoreDir`.
 */
export async function restore(ctx: StepContext, entries: BackupEntry[]): Promise<FixStep[]> {
  const steps: FixStep[] = [];
  for (const e of entries) {
    await ctx.before?.(`restore ${e.path}`);
    const started = new Date();
    try {
      if (!e.existed) {
        const r = await ctx.transport.exec(["rm", "-f", "--", e.path]);
        steps.push(stepFrom("restore", `remove ${e.path} (did not exist before)`, started, r, r.code === 0));
        continue;
      }
      if (e.isDirectory) {
        steps.push(await restoreDir(ctx.transport, e, started));
        continue;
      }
      const now = await ctx.transport.stat(e.path);
      if (now && now.sha256 === e.sha256 && now.mode === e.mode && now.uid === e.uid && now.gid === e.gid) {
        steps.push({
          phase: "restore",
          description: `${e.path} unchanged`,
          ok: true,
          started_at: started.toISOString(),
          duration_ms: Date.now() - started.getTime(),
        });
        continue;
      }
      const tmp = posix.join(posix.dirname(e.path), `.mcpmon-restore-${posix.basename(e.backup!)}`);
      const cp = await ctx.transport.exec(["cp", "-a", "--", e.backup!, tmp]);
      const mv = cp.code === 0 ? await ctx.transport.exec(["mv", "-f", "-T", "--", tmp, e.path]) : cp;
      const after = await ctx.transport.stat(e.path);
      const exact = Boolean(
        after &&
          after.sha256 === e.sha256 &&
          after.mode === e.mode &&
          after.uid === e.uid &&
          after.gid === e.gid,
      );
      const s = stepFrom(
        "restore",
        `restore ${e.path} from ${e.backup}${exact ? " (checksum, mode and owner match)" : " (MISMATCH after restore)"}`,
        started,
        mv,
        mv.code === 0 && exact,
      );
      steps.push(s);
    } catch (err) {
      steps.push(failedStep("restore", `restore ${e.path}`, started, err));
    }
  }
  return steps;
}

const TREE_MAX = 8 * 1024 * 1024;

/**
 * A folder as sorted lines `path type mode uid:gid sha256-or-link-target`, relative to `dir` (the
 * folder itself is "."), so that two listings are equal exactly when a restore was byte for byte
 * with modes and owners, and nothing was added or removed. null when it cannot be listed.
 * Two argv commands, no shell: NUL separators keep any file name (even with a newline) intact.
 */
export async function treeOf(transport: Transport, dir: string): Promise<string[] | null> {
  const root = dir.startsWith("-") ? `./${dir}` : dir; // find has no `--`
  const opts = { maxOutputBytes: TREE_MAX };
  const meta = await transport.exec(["find", root, "-printf", "%P\\0%y\\0%m\\0%U:%G\\0%l\\0"], opts);
  const sums = await transport.exec(
    ["find", root, "-type", "f", "-exec", "sha256sum", "-z", "--", "{}", "+"],
    opts,
  );
  if (meta.code !== 0 || sums.code !== 0 || meta.truncated || sums.truncated) return null;
  const prefix = `${root.replace(/\/+$/, "")}/`;
  const hashes = new Map<string, string>();
  // `sha256sum -z` prints `<hash>  <path>\0` and never escapes the name.
  for (const rec of Buffer.from(sums.stdoutBytes).toString("utf8").split("\0")) {
    if (!rec) continue;
    const name = rec.slice(66);
    hashes.set(name.startsWith(prefix) ? name.slice(prefix.length) : name, rec.slice(0, 64));
  }
  const f = Buffer.from(meta.stdoutBytes).toString("utf8").split("\0");
  const lines: string[] = [];
  for (let i = 0; i + 4 < f.length; i += 5) {
    const [rel, type, mode, owner, link] = f.slice(i, i + 5) as [string, string, string, string, string];
    const what = type === "f" ? (hashes.get(rel) ?? "?") : type === "l" ? `-> ${link}` : "";
    lines.push(`${rel || "."}\t${type}\t${mode}\t${owner}\t${what}`);
  }
  return lines.sort();
}

/**
 * Put a backed-up folder back exactly, including removing files the fix added under it. The copy
 * is made beside the folder first (same filesystem), so the folder is missing only between two
 * renames; the old one is moved aside, then deleted. A restore interrupted at any step can be run
 * again from the start: leftovers of an earlier attempt are removed first.
 */
async function restoreDir(transport: Transport, e: BackupEntry, started: Date): Promise<FixStep> {
  const want = e.tree ?? (await treeOf(transport, e.backup!));
  const same = (t: string[] | null) => Boolean(want && t && t.join("\n") === want.join("\n"));
  if ((await transport.stat(e.path))?.isDirectory && same(await treeOf(transport, e.path)))
    return {
      phase: "restore",
      description: `folder ${e.path} unchanged`,
      ok: true,
      started_at: started.toISOString(),
      duration_ms: Date.now() - started.getTime(),
    };
  const parent = posix.dirname(e.path);
  const name = posix.basename(e.backup!);
  if (posix.normalize(e.path) === "/" || !name)
    return failedStep("restore", `restore folder ${e.path}`, started, "refusing to replace /");
  const fresh = posix.join(parent, `.mcpmon-restore-${name}`);
  const aside = posix.join(parent, `.mcpmon-old-${name}`);
  const run = (argv: string[]) => transport.exec(argv);
  let r = await run(["rm", "-rf", "--", fresh, aside]);
  if (r.code === 0) r = await run(["cp", "-a", "--", e.backup!, fresh]);
  const present = r.code === 0 && (await transport.stat(e.path)) !== null;
  if (r.code === 0 && present) r = await run(["mv", "-f", "-T", "--", e.path, aside]);
  if (r.code === 0) {
    r = await run(["mv", "-f", "-T", "--", fresh, e.path]);
    // The folder must not stay missing: put the fix's version back rather than nothing.
    if (r.code !== 0 && present) await run(["mv", "-f", "-T", "--", aside, e.path]);
  }
  if (r.code === 0) r = await run(["rm", "-rf", "--", aside]);
  const exact = r.code === 0 && same(await treeOf(transport, e.path));
  return stepFrom(
    "restore",
    `restore folder ${e.path} from ${e.backup}${exact ? " (every file's checksum, mode and owner match; files added since removed)" : " (MISMATCH after restore)"}`,
    started,
    r,
    exact,
  );
}
