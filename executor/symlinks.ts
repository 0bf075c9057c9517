import { posix } from "node:path";
import type { ArgShape, Policy } from "../core/patterns/schema.ts";
import { checkAction, describeAction, pathReason } from "../core/policy/index.ts";
import type { Action } from "../core/schemas/actions.ts";
import type { Transport } from "./transport/types.ts";

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
