import { describe, expect, test } from "bun:test";
import { referenceMatch } from "../core/patterns/check.ts";
import { loadPatternsDir } from "../core/patterns/load.ts";
import { type LogRecord, looksLikeText, MultilineAssembler } from "./multiline.ts";

const all = loadPatternsDir(null);

/** Feed a whole file's text as the tailer would (line by line with byte offsets), then flush. */
function assemble(service: string, text: string, limits = {}): LogRecord[] {
  const asm = new MultilineAssembler(all.get(service)!.multiline, limits);
  const out: LogRecord[] = [];
  let offset = 0;
  for (const line of text.split("\n").slice(0, -1)) {
    out.push(...asm.push(line, offset));
    offset += Buffer.byteLength(line) + 1;
  }
  return [...out, ...asm.flush()];
}

// Seen in a real PostgreSQL 15 log (log_line_prefix '%m [%p] ').
const PG = `2026-11-24 01:54:59.238 UTC [6297] FATAL:  password authentication failed for user "bob"
2026-11-24 01:54:59.238 UTC [6297] DETAIL:  Role "bob" does not exist.
	Connection matched pg_hba.conf line 85: "local   all             all                                     md5"
2026-11-24 01:54:59.284 UTC [6300] ERROR:  syntax error at or near "selec" at character 1
2026-11-24 01:54:59.284 UTC [6300] STATEMENT:  selec 1
2026-11-24 01:55:00.596 UTC [6307] ERROR:  deadlock detected
2026-11-24 01:55:00.596 UTC [6307] DETAIL:  Process 6307 waits for ShareLock on transaction 728; blocked by process 6310.
	Process 6310 waits for ShareLock on transaction 727; blocked by process 6307.
	Process 6307: begin; update t set v=1 where id=1; select pg_sleep(1); update t set v=1 where id=2; commit;
	Process 6310: begin; update t set v=2 where id=2; select pg_sleep(0.2); update t set v=2 where id=1; commit;
2026-11-24 01:55:00.596 UTC [6307] HINT:  See server log for query details.
2026-11-24 01:55:00.596 UTC [6307] CONTEXT:  while updating tuple (0,2) in relation "t"
2026-11-24 01:55:00.596 UTC [6307] STATEMENT:  begin; update t set v=1 where id=1; select pg_sleep(1); update t set v=1 where id=2; commit;
2026-11-24 01:55:01.632 UTC [6322] FATAL:  remaining connection slots are reserved for non-replication superuser connections
`;

const ODOO = `2026-11-24 01:02:03,120 4343 INFO prod werkzeug: 10.0.0.5 - - [24/Nov/2026 01:02:03] "GET /web HTTP/1.1" 200 - 12 0.010 0.020
2026-11-24 01:02:03,123 4343 ERROR prod odoo.http: Exception during request handling.
Traceback (most recent call last):
  File "/usr/lib/python3/dist-packages/odoo/http.py", line 2007, in __call__
    response = request._serve_db()
  File "/usr/lib/python3/dist-packages/odoo/sql_db.py", line 678, in borrow
    result = psycopg2.connect(
psycopg2.OperationalError: connection to server at "localhost" (127.0.0.1), port 5432 failed: Connection refused
	Is the server running on that host and accepting TCP/IP connections?

2026-11-24 01:02:04,001 4343 INFO prod werkzeug: 10.0.0.5 - - [24/Nov/2026 01:02:04] "GET /web HTTP/1.1" 500 - 0 0 0.002
`;

describe("MultilineAssembler", () => {
  test("PostgreSQL: DETAIL/HINT/CONTEXT/STATEMENT lines (with their own prefix) join their message", () => {
    const recs = assemble("postgres", PG);
    expect(recs.map((r) => r.lines)).toEqual([3, 2, 8, 1]);
    expect(recs[2]!.text.split("\n")[0]).toBe("2026-11-24 01:55:00.596 UTC [6307] ERROR:  deadlock detected");
    expect(recs[2]!.text).toContain("\tProcess 6310: begin;");
    expect(recs[2]!.text.endsWith("update t set v=1 where id=2; commit;")).toBe(true);
    // Offsets: each record starts where the previous ended, and the last ends at the end of the file.
    for (let i = 1; i < recs.length; i++) expect(recs[i]!.offset).toBe(recs[i - 1]!.endOffset);
    expect(recs.at(-1)!.endOffset).toBe(Buffer.byteLength(PG));
    expect(recs.map((r) => r.text).join("\n") + "\n").toBe(PG);
  });

  test("Odoo: a Python traceback, its exception line and a blank line belong to the log line before", () => {
    const recs = assemble("odoo", ODOO);
    expect(recs.map((r) => r.lines)).toEqual([1, 9, 1]);
    expect(recs[1]!.text).toStartWith(
      "2026-11-24 01:02:03,123 4343 ERROR prod odoo.http: Exception during request handling.\nTraceback",
    );
    expect(recs[1]!.text).toContain("psycopg2.OperationalError: connection to server");
  });

  test("a record is only complete when the next starts, or when the caller flushes", () => {
    const asm = new MultilineAssembler(all.get("odoo")!.multiline);
    expect(asm.push("2026-11-24 01:02:03,123 4343 ERROR prod odoo.http: boom", 0)).toEqual([]);
    expect(asm.push("Traceback (most recent call last):", 57)).toEqual([]);
    expect(asm.pending).toBe(true);
    const [rec] = asm.flush();
    expect(rec).toEqual({
      text: "2026-11-24 01:02:03,123 4343 ERROR prod odoo.http: boom\nTraceback (most recent call last):",
      first: "2026-11-24 01:02:03,123 4343 ERROR prod odoo.http: boom",
      offset: 0,
      endOffset: 57 + 35,
      lines: 2,
      truncated: false,
    });
    expect(asm.pending).toBe(false);
    expect(asm.flush()).toEqual([]);
  });

  test("past max_lines / max_bytes the middle is dropped: head, a marker line and the last lines stay", () => {
    const frames = Array.from({ length: 20 }, (_, i) => `  frame ${i}`);
    const tb = `${["2026-11-24 01:02:03,123 4343 ERROR prod odoo.http: boom", ...frames].join("\n")}\n`;
    const [rec] = assemble("odoo", tb, { maxLines: 5, tailLines: 3 });
    expect(rec!.lines).toBe(21);
    const kept = rec!.text.split("\n");
    expect(kept.slice(0, 5)).toEqual([kept[0]!, ...frames.slice(0, 4)]);
    expect(kept[5]).toBe("\t[… 13 lines cut …]");
    expect(kept.slice(6)).toEqual(frames.slice(-3));
    expect(rec!.truncated).toBe(true);
    expect(rec!.endOffset).toBe(Buffer.byteLength(tb));
    const [big] = assemble("odoo", tb, { maxBytes: 70, tailLines: 0 });
    expect(big!.text.split("\n")).toHaveLength(3); // the first line, one frame, the marker
    expect(big!.truncated).toBe(true);
  });

  test("a traceback longer than max_lines still ends in its exception, so its pattern matches", () => {
    const frames = Array.from({ length: 600 }, (_, i) => `  File "/opt/odoo/x.py", line ${i}, in f`);
    const tb = [
      "2026-11-24 01:02:03,123 4343 ERROR prod odoo.sql_db: Connection to the database failed",
      "Traceback (most recent call last):",
      ...frames,
      'psycopg2.OperationalError: connection to server at "db.internal" (10.0.0.5), port 5432 failed',
    ].join("\n");
    const [rec] = assemble("odoo", `${tb}\n`);
    expect(rec!.truncated).toBe(true);
    const m = referenceMatch(all.get("odoo")!, rec!.text);
    expect(m?.cp.pattern.id).toBe("odoo-db-connection-failed");
    expect(m?.fields.host).toBe("db.internal");
  });

  test("a continuation must look like text: binary junk closes the record and is counted", () => {
    const asm = new MultilineAssembler(all.get("nginx")!.multiline);
    const err = '2026/11/24 01:02:03 [crit] 1:2: *1 open() "/var/www/html/a" failed (13: Permission denied)';
    asm.push(err, 0);
    const junk = asm.push("\u0001\u0002\ufffd\ufffdxy\u0007", 100);
    expect(junk.map((r) => r.text)).toEqual([err]);
    expect(asm.junkLines).toBe(1);
    expect(asm.push("plain text continues the junk record", 120)).toEqual([]);
    expect(looksLikeText("\tat com.example.Foo.bar(Foo.java:12) \u001b[31mred\u001b[0m")).toBe(true);
    expect(looksLikeText("café ünïcode")).toBe(true);
    expect(looksLikeText("ab\u0000cd")).toBe(false);
  });

  test("a partial last line is given in its record, and the whole line rejoins the same record", () => {
    const asm = new MultilineAssembler(all.get("odoo")!.multiline);
    const head = "2026-11-24 01:02:03,123 4343 ERROR prod odoo.http: boom";
    asm.push(head, 0, 56);
    asm.push("Traceback (most rec", 56, 19, true);
    expect(asm.heldFrom).toBe(0);
    const [partial] = asm.flush();
    expect(partial!.text).toBe(`${head}\nTraceback (most rec`);
    expect(asm.rejoin()).toBe(true);
    expect(asm.heldFrom).toBe(Number.POSITIVE_INFINITY);
    asm.push("Traceback (most recent call last):", 56, 35);
    const [whole] = asm.flush();
    expect(whole).toMatchObject({ text: `${head}\nTraceback (most recent call last):`, offset: 0, lines: 2 });
    expect(asm.startsRecord("2026-11-24 01:02:03,124 4343 ERR")).toBe(true);
    expect(asm.startsRecord("2026-11-")).toBe(false);
  });

  test("without a rule each line is a record at once; multibyte lines count bytes", () => {
    const asm = new MultilineAssembler(undefined);
    expect(asm.push("héllo", 10)).toEqual([
      { text: "héllo", first: "héllo", offset: 10, endOffset: 17, lines: 1, truncated: false },
    ]);
    expect(asm.pending).toBe(false);
  });

  test("nginx: stderr lines of nginx -t start their own record", () => {
    const text = `2026/11/24 01:54:25 [emerg] 5843#5843: unknown directive "foo_bar" in /tmp/ngx/conf/bad.conf:2
nginx: configuration file /tmp/ngx/conf/bad.conf test failed
`;
    expect(assemble("nginx", text).map((r) => r.lines)).toEqual([1, 1]);
  });
});
