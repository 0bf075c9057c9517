import { posix } from "node:path";
import { errorMessage } from "../core/errors.ts";
import type { ServicePatterns } from "../core/patterns/load.ts";
import type { ArgShape, Policy } from "../core/patterns/schema.ts";
import { checkAction, describeAction, type PolicyVerdict, pathReason } from "../core/policy/index.ts";
import type { Action, Check, RunAction, WriteFileAction } from "../core/schemas/actions.ts";
import type { FixStep } from "../core/schemas/fix.ts";
import { changeByPath, helperTarget, normalPath, writeResolved } from "./hostops.ts";
import type { ExecResult, Transport } from "./transport/types.ts";

/**
 * The host-side pieces of a fix: running one action or check, resolving symlinks against the
 * policy, backing files up and restoring them. Each returns a FixStep for the audit trail.
 */
export type Phase = FixStep["phase"];
const KEEP = 8 * 1024;

function clip(s: string): string {
  return s.length > KEEP
    ? `${s.slice(0, KEEP)}\n[… ${s.length - KEEP} more characters in the host's output]`
    : s;
}

export function stepFrom(
  phase: Phase,
  description: string,
  started: Date,
  r: ExecResult,
  ok: boolean,
): FixStep {
  return {
    phase,
    description: r.timedOut ? `${description} (timed out)` : description,
    ok,
    exit_code: r.code,
    stdout: clip(r.stdout),
    stderr: clip(r.stderr),
    started_at: started.toISOString(),
    duration_ms: Math.round(r.durationMs),
  };
}

export function failedStep(phase: Phase, description: string, started: Date, err: unknown): FixStep {
  return {
    phase,
    description,
    ok: false,
    stderr: errorMessage(err),
    started_at: started.toISOString(),
    duration_ms: Date.now() - started.getTime(),
  };
}

export interface StepContext {
  transport: Transport;
  service: ServicePatterns;
  /** Per-action timeout when the action has none (ssh_settings.command_timeout). */
  timeoutMs: number;
  /**
   * Called before every step on the host, named by `what`; throws to stop the run (the runner's
   * lease check and fenced record write: LeaseLost, FencedOut). Never caught by the steps.
   */
  before?: (what: string) => Promise<void>;
  /**
   * write_file path → the real path resolved and backed up before the run: the write refuses if
   * the path resolves elsewhere by then (the backup would not cover what it changes).
   */
  writeTargets?: Map<string, string>;
}

/** Run the service's validate/reload/restart op as the patterns file maps it. */
export async function serviceOp(
  ctx: StepContext,
  op: "validate" | "reload" | "restart",
  phase: Phase,
  expectExit = 0,
): Promise<FixStep> {
  const spec = ctx.service.spec.service_ops[op];
  const argv = spec ? [spec.program, ...(spec.args ?? [])] : [];
  await ctx.before?.(`service ${op}: ${argv.join(" ")}`);
  const started = new Date();
  if (!spec) return failedStep(phase, `service ${op}`, started, `no ${op} operation in ${ctx.service.file}`);
  const r = await ctx.transport.exec(argv, {
    timeoutMs: spec.timeout_s ? spec.timeout_s * 1000 : ctx.timeoutMs,
  });
  const ok = r.code === expectExit;
  if (ok && spec.settle_ms) await Bun.sleep(spec.settle_ms);
  return stepFrom(phase, `service ${op}: ${argv.join(" ")}`, started, r, ok);
}

/**
 * Programs that change a file by path and follow symlinks: never run as given, but through the
 * host helper (hostops.ts), which checks and changes the same open file.
 */
const BY_PATH = new Set(["chmod", "chown"]);

const KIND: Partial<Record<Phase, PolicyVerdict["kind"]>> = {
  action: "action",
  rollback: "rollback",
  precondition: "precondition",
  verify: "verify",
};

/** The allow rule of `a` in the service policy, or why there is none (the runner checked before). */
function ruleOf(ctx: StepContext, a: Action | Check, phase: Phase) {
  const policy = ctx.service.spec.policy;
  const verdict = checkAction(policy, a, KIND[phase] ?? "action");
  const rule = verdict.allowed ? policy.rules.find((r) => r.id === verdict.rule) : undefined;
  return rule ? { rule } : { refused: verdict.reason ?? `${describeAction(a)}: no rule allows it` };
}

/**
 * chmod/chown `<mode|owner> <path>` through the helper, with the roots of the rule's path shape.
 * Any other form of these programs is refused: it would act on a path checked earlier.
 */
async function runByPath(
  ctx: StepContext,
  a: RunAction,
  phase: Phase,
  started: Date,
  desc: string,
  expectExit: number,
): Promise<FixStep> {
  const found = ruleOf(ctx, a, phase);
  if ("refused" in found) return failedStep(phase, desc, started, `refused: ${found.refused}`);
  const { rule } = found;
  const args = a.args ?? [];
  const shapeAt = (i: number): ArgShape | undefined =>
    rule.type === "run" ? (i < rule.args.length ? rule.args[i] : rule.rest) : undefined;
  const pathShape = shapeAt(1);
  if (args.length !== 2 || !pathShape || !("path" in pathShape) || (shapeAt(0) && "path" in shapeAt(0)!))
    return failedStep(
      phase,
      desc,
      started,
      `refused: ${a.program} runs only as "${a.program} <${a.program === "chmod" ? "mode" : "owner"}> <path>" (rule ${rule.id}), through mcpmon's helper that checks and changes the same open file`,
    );
  const r = await changeByPath(
    ctx.transport,
    a.program as "chmod" | "chown",
    args[0]!,
    args[1]!,
    pathShape.path.roots,
    a.timeout_s ? a.timeout_s * 1000 : ctx.timeoutMs,
  );
  const real = helperTarget(r);
  const shown = real && real !== normalPath(args[1]!) ? `${desc} (on ${real})` : desc;
  return stepFrom(phase, shown, started, r, r.code === expectExit);
}

/** write_file through the helper: the resolved file, checked against the rule's roots, is written. */
async function writeStep(
  ctx: StepContext,
  a: WriteFileAction,
  phase: Phase,
  started: Date,
): Promise<FixStep> {
  const bytes = Buffer.byteLength(a.content);
  const desc = `${describeAction(a)} (${bytes} bytes)`;
  const found = ruleOf(ctx, a, phase);
  if ("refused" in found) return failedStep(phase, desc, started, `refused: ${found.refused}`);
  if (found.rule.type !== "write_file")
    return failedStep(phase, desc, started, `refused: rule ${found.rule.id} is not a write_file rule`);
  const expect = ctx.writeTargets?.get(a.path);
  const r = await writeResolved(ctx.transport, {
    path: a.path,
    content: a.content,
    ...(a.mode === undefined ? {} : { mode: a.mode }),
    roots: found.rule.path.roots,
    ...(expect === undefined ? {} : { expect }),
    timeoutMs: ctx.timeoutMs,
  });
  const real = helperTarget(r);
  const shown = real && real !== normalPath(a.path) ? `${desc} into ${real}` : desc;
  return stepFrom(phase, shown, started, r, r.code === 0);
}

/**
 * One action or check. Transport errors propagate: the caller decides retry or rollback; so do
 * the errors of `ctx.before` (the run must stop).
 */
export async function runStep(ctx: StepContext, a: Action | Check, phase: Phase): Promise<FixStep> {
  if (a.type !== "service") await ctx.before?.(describeAction(a));
  const started = new Date();
  const expectExit = "expect_exit" in a && typeof a.expect_exit === "number" ? a.expect_exit : 0;
  switch (a.type) {
    case "run": {
      const desc = expectExit === 0 ? describeAction(a) : `${describeAction(a)} (expect exit ${expectExit})`;
      if (BY_PATH.has(a.program)) return await runByPath(ctx, a, phase, started, desc, expectExit);
      const timeoutMs = a.timeout_s ? a.timeout_s * 1000 : ctx.timeoutMs;
      const r = await ctx.transport.exec([a.program, ...(a.args ?? [])], { timeoutMs });
      return stepFrom(phase, desc, started, r, r.code === expectExit);
    }
    case "service":
      return await serviceOp(ctx, a.op, phase, expectExit);
    case "write_file":
      return await writeStep(ctx, a, phase, started);
    case "http": {
      const { status } = await ctx.transport.httpGet(a.url, ctx.timeoutMs);
      return {
        phase,
        description: `GET ${a.url} → ${status} (expect ${a.expect_status})`,
        ok: status === a.expect_status,
        exit_code: status,
        started_at: started.toISOString(),
        duration_ms: Date.now() - started.getTime(),
      };
    }
  }
}

/**
 * Symlink escape: every path the policy allowed is resolved on the host and checked again against
 * the same roots. `/var/www/html/x -> /etc/shadow` passes the pure check but not this one.
 * This is an early refusal (nothing runs, the reason is clear); it cannot be the guard, since a
 * path can change after it: chmod, chown and write_file check again on the host at the moment
 * they act (hostops.ts), and other programs must not change files by path.
 */
export async function symlinkReasons(
  policy: Policy,
  transport: Transport,
  items: Array<{ a: unknown; kind: "action" | "precondition" | "verify" | "rollback" }>,
): Promise<string[]> {
  const reasons: string[] = [];
  for (const { a, kind } of items) {
    const verdict = checkAction(policy, a, kind);
    const rule = policy.rules.find((r) => r.id === verdict.rule);
    if (!rule) continue;
    const paths: Array<{ path: string; roots: string[]; dirs: boolean }> = [];
    if (rule.type === "write_file" && (a as Action).type === "write_file")
      paths.push({ path: (a as { path: string }).path, roots: rule.path.roots, dirs: false });
    if (rule.type === "run") {
      const args = (a as { args?: string[] }).args ?? [];
      args.forEach((arg, i) => {
        const shape: ArgShape | undefined = i < rule.args.length ? rule.args[i] : rule.rest;
        if (shape && "path" in shape)
          paths.push({ path: arg, roots: shape.path.roots, dirs: shape.path.allow_dirs ?? false });
      });
    }
    for (const p of paths) {
      const real = await transport.realpath(p.path);
      if (real === (posix.normalize(p.path).replace(/\/+$/, "") || "/")) continue;
      // Roots may themselves be symlinks (/var/www -> /srv/www): resolve them the same way.
      const roots = await Promise.all(p.roots.map((r) => transport.realpath(r).catch(() => r)));
      if (pathReason(real, [...new Set([...p.roots, ...roots])], p.dirs))
        reasons.push(
          `${describeAction(a)}: "${p.path}" resolves to "${real}" on the host, which is not under ${p.roots.join(", ")}`,
        );
    }
  }
  return reasons;
}

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
