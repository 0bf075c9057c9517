import { createReadStream, existsSync, statSync } from "node:fs";
import { createInterface } from "node:readline";
import { MultilineAssembler } from "../../collector/multiline.ts";
import { McpError } from "../../core/errors.ts";
import type { ServicePatterns } from "../../core/patterns/load.ts";
import { redact } from "../../core/redact/index.ts";
import type { CliArgs } from "../args.ts";

/**
 * `mcpmon redact [FILE|-] [--service S] [--explain]`: every input line as the collector would store
 * it, one output line per input line. With `--service`, lines are first joined into records by
 * the service's multiline rule, as the collector joins them (a private key spread over lines is
 * one record), and a secret that spans lines leaves its marker on each. `--explain` writes to stderr,
 * for each changed line, the rules that fired, then a summary. Always exit 0 once the input is read.
 */
export async function redactCommand(
  args: CliArgs,
  out: (s: string) => void,
  err: (s: string) => void,
): Promise<number> {
  const file = args.positionals[0] ?? "-";
  if (file !== "-" && (!existsSync(file) || !statSync(file).isFile()))
    throw new McpError("USAGE", `cannot read ${file}: no such file`);
  const explain = Boolean(args.flags.explain);
  const sp = args.flags.service ? await servicePatterns(args) : undefined;
  const assembler = new MultilineAssembler(sp?.multiline);
  const tally = { lines: 0, changed: 0, secrets: 0 };

  const emit = (text: string) => {
    const r = redact(text, { keepLines: true });
    const lines = r.text.split("\n");
    const first = tally.lines + 1;
    tally.lines += lines.length;
    for (const l of lines) out(l);
    if (r.count === 0) return;
    tally.changed++;
    tally.secrets += r.count;
    if (explain) {
      const where = lines.length > 1 ? `lines ${first}-${tally.lines}` : `line ${first}`;
      err(`${where}: ${r.kinds.join(", ")} (${r.rules.join("; ")})`);
    }
  };
  const input = createInterface({
    input: file === "-" ? process.stdin : createReadStream(file),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  for await (const line of input) for (const rec of assembler.push(line, 0)) emit(rec.text);
  for (const rec of assembler.flush()) emit(rec.text);
  if (explain)
    err(
      `${tally.lines} lines, ${tally.changed} ${sp?.multiline ? "records" : "lines"} changed, ${tally.secrets} secrets redacted`,
    );
  return 0;
}

async function servicePatterns(args: CliArgs): Promise<ServicePatterns> {
  const service = String(args.flags.service);
  const { loadPatternsDir } = await import("../../core/patterns/load.ts");
  const patterns = loadPatternsDir(args.flags["patterns-dir"] as string | undefined, { withShipped: true });
  const sp = patterns.get(service);
  if (!sp)
    throw new McpError(
      "USAGE",
      `--service: no patterns file for "${service}" (known: ${[...patterns.keys()].join(", ")})`,
    );
  return sp;
}
