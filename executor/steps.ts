import { errorMessage } from "../core/errors.ts";
import type { ServicePatterns } from "../core/patterns/load.ts";
import type { ArgShape } from "../core/patterns/schema.ts";
import { checkAction, contentReasons, describeAction, type PolicyVerdict } from "../core/policy/index.ts";
import type { Action, Check, RunAction, WriteFileAction } from "../core/schemas/actions.ts";
import type { FixStep } from "../core/schemas/fix.ts";
import { changeByPath, helperTarget, normalPath, writeResolved } from "./hostops.ts";
import type { ExecResult, Transport } from "./transport/types.ts";

/**
 * The host-side pieces of a fix: running one action or check (here), resolving symlinks against
 * the policy (symlinks.ts), backing files up and restoring them (backup.ts). Each returns a
 * FixStep for the audit trail.
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
  const all = (verdict.rules ?? []).flatMap((id) => policy.rules.filter((r) => r.id === id));
  return rule
    ? { rule, all: all.length ? all : [rule] }
    : { refused: verdict.reason ?? `${describeAction(a)}: no rule allows it` };
}

/** The roots of the path shape of the rule that allows a chmod/chown action (for its undo). */
export function byPathRoots(ctx: StepContext, a: RunAction): string[] | null {
  const found = ruleOf(ctx, a, "action");
  if ("refused" in found || found.rule.type !== "run") return null;
  const shape = found.rule.args[1];
  return shape && "path" in shape ? shape.path.roots : null;
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
  const args = a.args ?? [];
  // Several rules allow it (a file rule and a folder rule): the one for what the path is now; the
  // helper checks that kind again on the object it opens.
  let rule = found.rule;
  if (found.all.length > 1 && args[1] !== undefined) {
    const st = await ctx.transport.stat(args[1]).catch(() => null);
    const kind = st?.isDirectory ? "dir" : "file";
    rule = found.all.find((r) => r.type === "run" && r.target?.kind === kind) ?? rule;
  }
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
  if (rule.type !== "run" || !rule.target)
    return failedStep(phase, desc, started, `refused: rule ${rule.id} has no target (kind and owners)`);
  const r = await changeByPath(ctx.transport, a.program as "chmod" | "chown", args[0]!, args[1]!, {
    roots: pathShape.path.roots,
    target: rule.target,
    timeoutMs: a.timeout_s ? a.timeout_s * 1000 : ctx.timeoutMs,
  });
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
  const rule = found.rule;
  const expect = ctx.writeTargets?.get(a.path);
  // The content policy again, now against the file as it is on the host: a forbidden directive
  // the file already has may stay as it is; adding, changing or removing one is refused.
  const current = await ctx.transport.readFile(expect ?? a.path).then(
    (b) => Buffer.from(b).toString("utf8"),
    () => null,
  );
  const content = contentReasons(ctx.service.spec.policy.content, a.path, a.content, current);
  if (content.length) return failedStep(phase, desc, started, `refused: ${content.join("; ")}`);
  const r = await writeResolved(ctx.transport, {
    path: a.path,
    content: a.content,
    ...(a.mode === undefined ? {} : { mode: a.mode }),
    createMode: rule.create_mode ?? rule.modes?.[0] ?? "0640",
    roots: rule.path.roots,
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
