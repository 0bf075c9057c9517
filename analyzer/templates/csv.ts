/**
 * Minimal RFC 4180 CSV reader and writer, enough for LogHub's structured files: quoted fields may
 * hold commas, newlines and doubled quotes. A whole-file parser (not line by line) because a quoted
 * field may span lines.
 */

/** Parse CSV text into rows of fields. A trailing newline does not produce an empty row. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let i = 0;
  const n = text.length;
  // Strip a UTF-8 byte-order mark, which some exporters put before the header.
  if (text.charCodeAt(0) === 0xfeff) i = 1;
  let atFieldStart = true;
  while (i < n) {
    const c = text[i]!;
    if (atFieldStart && c === '"') {
      // Quoted field: runs to the next quote that is not doubled.
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q < 0) throw new Error(`unterminated quoted field in CSV row ${rows.length + 1}`);
        field += text.slice(i, q);
        if (text[q + 1] === '"') {
          field += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      atFieldStart = false;
      continue;
    }
    if (c === ",") {
      row.push(field);
      field = "";
      atFieldStart = true;
      i++;
    } else if (c === "\n" || c === "\r") {
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
      atFieldStart = true;
      i += c === "\r" && text[i + 1] === "\n" ? 2 : 1;
    } else {
      // Unquoted run up to the next delimiter, copied in one slice for speed.
      let j = i;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (d === 44 || d === 10 || d === 13) break;
        j++;
      }
      field += text.slice(i, j);
      atFieldStart = false;
      i = j;
    }
  }
  if (!atFieldStart || field !== "" || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/** Parse CSV with a header row into records keyed by column name. */
export function parseCsvRecords(text: string): Record<string, string>[] {
  const rows = parseCsv(text);
  const header = rows[0] ?? [];
  const out: Record<string, string>[] = [];
  for (let r = 1; r < rows.length; r++) {
    const row = rows[r]!;
    const rec: Record<string, string> = {};
    for (let c = 0; c < header.length; c++) rec[header[c]!] = row[c] ?? "";
    out.push(rec);
  }
  return out;
}

/** Quote a field when it holds a comma, quote or line break (doubling inner quotes). */
export function csvField(value: string | number): string {
  const s = String(value);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One CSV line (without the line break). */
export function csvLine(fields: Array<string | number>): string {
  return fields.map(csvField).join(",");
}
