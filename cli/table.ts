/**
 * Aligned plain-text tables for the operator commands: columns as wide as their widest cell, the
 * last column cut to the terminal's width (a template can be 64 KiB), never colour codes, so the
 * output reads the same in a terminal, a pipe and a test.
 */
export function table(headers: string[], rows: string[][], width = terminalWidth()): string {
  const cells = [headers, ...rows].map((r) => r.map((c) => oneLine(c)));
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const fixed = widths.slice(0, -1).reduce((s, w) => s + w + 2, 0);
  const lastMax = Math.max(20, width - fixed);
  return cells
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? cut(c, lastMax) : c.padEnd(widths[i]!)))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** `key  value` lines, keys aligned. */
export function fields(pairs: Array<[string, string | number | boolean | null | undefined]>): string {
  const shown = pairs.filter(([, v]) => v !== undefined && v !== null && v !== "");
  const w = Math.max(...shown.map(([k]) => k.length));
  return shown.map(([k, v]) => `${k.padEnd(w)}  ${oneLine(String(v))}`).join("\n");
}

function terminalWidth(): number {
  return process.stdout.isTTY ? process.stdout.columns || 120 : 160;
}

const oneLine = (s: string) => s.replace(/[\r\n\t]+/g, " ");
const cut = (s: string, n: number) => (s.length <= n ? s : `${s.slice(0, n - 1)}…`);
