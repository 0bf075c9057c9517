import { describe, expect, test } from "bun:test";
import { stripHeader } from "./header.ts";
import { loadPatternsDir } from "./load.ts";

const all = loadPatternsDir(null);
const sp = (s: string) => all.get(s)!;

describe("stripHeader", () => {
  test("nginx: time, level, pid; the connection number is not part of the message", () => {
    const line =
      '2026/11/24 01:54:22 [error] 5827#5827: *1 open() "/tmp/ngx/html/x.png" failed (13: Permission denied), client: 127.0.0.1';
    expect(stripHeader(sp("nginx"), line)).toEqual({
      time: "2026/11/24 01:54:22",
      level: "error",
      pid: "5827",
      message: 'open() "/tmp/ngx/html/x.png" failed (13: Permission denied), client: 127.0.0.1',
    });
  });

  test("postgres with '%m [%p] ' and with the Debian default '%m [%p] %q%u@%d '", () => {
    const a = stripHeader(
      sp("postgres"),
      '2026-11-24 01:54:59.204 UTC [6294] FATAL:  database "nosuchdb" does not exist',
    );
    expect(a).toEqual({
      time: "2026-11-24 01:54:59.204 UTC",
      pid: "6294",
      level: "FATAL",
      message: 'database "nosuchdb" does not exist',
    });
    const b = stripHeader(
      sp("postgres"),
      "2026-11-24 01:02:03.123 UTC [4242] app@shop ERROR:  deadlock detected",
    );
    expect(b).toMatchObject({ level: "ERROR", pid: "4242", message: "deadlock detected" });
  });

  test("redis and odoo", () => {
    expect(
      stripHeader(
        sp("redis"),
        "6399:S 24 Nov 2026 01:55:17.016 # Error condition on socket for SYNC: Connection refused",
      ),
    ).toEqual({
      pid: "6399",
      time: "24 Nov 2026 01:55:17.016",
      level: "#",
      message: "Error condition on socket for SYNC: Connection refused",
    });
    expect(
      stripHeader(
        sp("odoo"),
        "2026-11-24 01:02:03,123 4242 ERROR prod odoo.modules.registry: Failed to load registry",
      ),
    ).toEqual({
      time: "2026-11-24 01:02:03,123",
      pid: "4242",
      level: "ERROR",
      message: "Failed to load registry",
    });
  });

  test("a line without the header is all message", () => {
    const line = 'nginx: [emerg] unknown directive "foo" in /etc/nginx/nginx.conf:3';
    expect(stripHeader(sp("nginx"), line)).toEqual({ message: line });
    // A header-like text later in the line is not a header.
    const odd = `x ${"2026/11/24 01:54:22 [error] 1#1: boom"}`;
    expect(stripHeader(sp("nginx"), odd)).toEqual({ message: odd });
  });
});
