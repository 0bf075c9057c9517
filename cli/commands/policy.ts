import { resolve } from "node:path";
import { loadCentralConfig } from "../../core/config/index.ts";
import { McpError } from "../../core/errors.ts";
import { runPolicyCheckCommand } from "../../core/policy/cli.ts";
import type { CliArgs } from "../args.ts";
import { didYouMean } from "../suggest.ts";
import { centralPatterns } from "./checks.ts";

/**
 * `mcpmon policy check --service nginx --action '<json>'` (or a JSON array of actions on stdin).
 * The policy is read where the server reads it: `--config` takes the central config's
 * patterns_dir (relative to that file), `--patterns-dir` a folder; either way merged with the
 * shipped services, as serve does.
 */
export async function policyCommand(
  args: CliArgs,
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  const sub = args.positionals[0];
  if (sub === undefined)
    throw new McpError("USAGE", "policy needs a subcommand: mcpmon policy check --service S --action JSON");
  if (sub !== "check")
    throw new McpError("USAGE", `unknown policy subcommand "${sub}"${didYouMean(sub, ["check"])}`);
  const service = args.flags.service as string | undefined;
  if (!service) throw new McpError("USAGE", "policy check needs --service (nginx, postgres, redis, odoo, …)");
  const patternsDir = args.flags["patterns-dir"] as string | undefined;
  if (patternsDir !== undefined && args.configs.length > 0)
    throw new McpError("USAGE", "policy check takes --config or --patterns-dir, not both");
  const patterns =
    args.configs.length > 0
      ? await centralPatterns(loadCentralConfig(args.configs[0]!, process.env, "policy check"))
      : undefined;
  const actionJson = args.flags.action as string | undefined;
  const stdin = actionJson === undefined && !process.stdin.isTTY ? await Bun.stdin.text() : undefined;
  const buffers = { out: "", err: "" };
  const code = runPolicyCheckCommand(
    {
      service,
      ...(actionJson === undefined ? {} : { actionJson }),
      ...(stdin === undefined ? {} : { stdin }),
      ...(patternsDir === undefined ? {} : { patternsDir: resolve(patternsDir) }),
      ...(patterns === undefined ? {} : { patterns }),
    },
    { write: (t: string) => (buffers.out += t) },
    { write: (t: string) => (buffers.err += t) },
  );
  if (buffers.out) out(buffers.out.replace(/\n$/, ""));
  if (buffers.err) err(buffers.err.replace(/\n$/, ""));
  return code;
}
