import { McpError } from "../../core/errors.ts";
import { runPolicyCheckCommand } from "../../core/policy/cli.ts";
import type { CliArgs } from "../args.ts";

/** `mcpmon policy check --service nginx --action '<json>'` (or a JSON array of actions on stdin). */
export async function policyCommand(
  args: CliArgs,
  out: (s: string) => void,
  _err: (s: string) => void,
): Promise<number> {
  if (args.positionals[0] !== "check") {
    throw new McpError(
      "USAGE",
      "usage: mcpmon policy check --service SERVICE --action JSON  (or actions on stdin)",
    );
  }
  const service = args.flags.service as string | undefined;
  if (!service) throw new McpError("USAGE", "policy check: --service is required");
  const actionJson = args.flags.action as string | undefined;
  const stdin = actionJson === undefined && !process.stdin.isTTY ? await Bun.stdin.text() : undefined;
  let buffer = "";
  const code = runPolicyCheckCommand(
    { service, actionJson, stdin, patternsDir: args.flags["patterns-dir"] as string | undefined },
    {
      write: (t: string) => {
        buffer += t;
      },
    },
  );
  if (buffer) out(buffer.replace(/\n$/, ""));
  return code;
}
