/**
 * The logic behind `mcpmon templates FILE [--service S] [--format text|csv] [--loghub]`: group the
 * lines of a log file into templates and print them, most frequent first. The CLI wires arguments
 * and output; this module never touches process state.
 */
import { readFile } from "node:fs/promises";
import { csvLine, parseCsvRecords } from "./csv.ts";
import { TemplateMiner } from "./miner.ts";

export interface TemplatesCommandArgs {
  file: string;
  service?: string;
  format: "text" | "csv";
  /** Read the `Content` column of a LogHub structured CSV; write `LineId,EventId,EventTemplate`. */
  loghub: boolean;
  /** Removes the header (time, host, level…) from a raw line, leaving the message to group. */
  stripHeader?: (line: string) => string;
}

/**
 * Run the command; returns the exit code: 0 ok, 2 when the input is not what was asked for (a
 * missing file, a `--loghub` file without a Content column): the operator's mistake, not a failure.
 * Errors go to `err` (default `out`), starting with `mcpmon: `.
 */
export async function runTemplatesCommand(
  args: TemplatesCommandArgs,
  out: (s: string) => void,
  err: (s: string) => void = out,
): Promise<number> {
  let text: string;
  try {
    text = await readFile(args.file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    err(`mcpmon: cannot read ${args.file}: ${code === "ENOENT" ? "no such file" : (e as Error).message}`);
    return 2;
  }
  const miner = new TemplateMiner({ service: args.service ?? "" });
  if (args.loghub) return loghub(text, miner, args.file, out, err);

  const strip = args.stripHeader ?? ((l: string) => l);
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === "") continue;
    miner.add(strip(line));
  }
  const clusters = miner.clusters().sort((a, b) => b.count - a.count);
  if (args.format === "csv") {
    out(csvLine(["count", "template", "example"]));
    for (const c of clusters) out(csvLine([c.count, c.template, c.example]));
    return 0;
  }
  const countWidth = Math.max(5, ...clusters.map((c) => String(c.count).length));
  const templateWidth = Math.min(80, Math.max(8, ...clusters.map((c) => c.template.length)));
  out(`${"count".padStart(countWidth)}  ${"template".padEnd(templateWidth)}  example`);
  for (const c of clusters) {
    out(`${String(c.count).padStart(countWidth)}  ${c.template.padEnd(templateWidth)}  ${c.example}`);
  }
  out(`${clusters.length} templates, ${clusters.reduce((s, c) => s + c.count, 0)} lines`);
  return 0;
}

/**
 * LogHub mode, for scoring with the benchmark's own tools: EventId is E1, E2… in the order each final
 * group first appears, and EventTemplate is the group's final template, so the output has the same
 * shape as LogHub's ground truth.
 */
function loghub(
  text: string,
  miner: TemplateMiner,
  file: string,
  out: (s: string) => void,
  err: (s: string) => void,
): number {
  const recs = parseCsvRecords(text);
  if (recs.length > 0 && recs[0]!.Content === undefined) {
    err(
      `mcpmon: --loghub reads a LogHub *_structured.csv (LineId,…,Content,… columns); ${file} has no Content column (for a raw log, leave out --loghub)`,
    );
    return 2;
  }
  const ids = recs.map((r) => miner.add(r.Content ?? "").clusterId);
  const templates = new Map(miner.clusters().map((c) => [c.id, c.template]));
  const eventIds = new Map<string, string>();
  out(csvLine(["LineId", "EventId", "EventTemplate"]));
  recs.forEach((r, i) => {
    const id = miner.resolve(ids[i]!) ?? ids[i]!;
    let e = eventIds.get(id);
    if (e === undefined) {
      e = `E${eventIds.size + 1}`;
      eventIds.set(id, e);
    }
    out(csvLine([r.LineId ?? String(i + 1), e, templates.get(id) ?? ""]));
  });
  return 0;
}
