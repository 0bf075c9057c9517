import { describe, expect, test } from "bun:test";
import { referenceMatch } from "../core/patterns/check.ts";
import { loadPatternsDir, parsePatternsText } from "../core/patterns/load.ts";
import { createMatcher, requiredLiterals } from "./match.ts";

const all = loadPatternsDir(null);
const matcher = createMatcher(all);

describe("createMatcher over the shipped patterns", () => {
  test("every example gives the same pattern and fields as the reference (first match wins)", () => {
    for (const sp of all.values()) {
      for (const cp of sp.patterns) {
        for (const line of cp.pattern.examples) {
          const ref = referenceMatch(sp, line)!;
          const m = matcher.match(sp.service, line);
          expect({ line, id: m?.pattern.id, fields: m?.fields, message: m?.message }).toEqual({
            line,
            id: cp.pattern.id,
            fields: ref.fields,
            message: ref.message,
          });
        }
        for (const line of cp.pattern.counter_examples) expect(matcher.match(sp.service, line)).toBeNull();
      }
    }
  });

  test("fields come from named groups; header facts come with the match", () => {
    const m = matcher.match(
      "nginx",
      '2026/11/24 01:54:22 [error] 5827#5827: *1 open() "/var/www/html/x.png" failed (13: Permission denied), client: 127.0.0.1, server: localhost, request: "GET /x.png HTTP/1.1", host: "localhost"',
    );
    expect(m).toMatchObject({
      fields: { path: "/var/www/html/x.png", client: "127.0.0.1" },
      time: "2026/11/24 01:54:22",
      level: "error",
      pid: "5827",
    });
    expect(m!.pattern.id).toBe("nginx-permission-denied");
    expect(m!.pattern.remediation?.risk).toBe("low");
  });

  test("ordinary lines, unknown services and another service's errors match nothing", () => {
    expect(
      matcher.match("nginx", "2026/11/24 01:54:22 [notice] 5825#5825: start worker process 5827"),
    ).toBeNull();
    expect(
      matcher.match("postgres", "2026-11-24 01:55:04.308 UTC [6282] LOG:  checkpoint starting: wal"),
    ).toBeNull();
    expect(matcher.match("nope", "deadlock detected")).toBeNull();
    const rec = { text: "2026-11-24 01:55:00.596 UTC [6307] ERROR:  deadlock detected", offset: 0 };
    expect(matcher.match("postgres", rec)?.pattern.id).toBe("pg-deadlock");
    expect(matcher.match("redis", "2026-11-24 01:55:00.596 UTC [6307] ERROR:  deadlock detected")).toBeNull();
  });

  test("every shipped pattern has a literal prefilter (none is tried on every line)", () => {
    const slow = [...all.values()].flatMap((sp) =>
      sp.patterns.filter((cp) => !requiredLiterals(cp.pattern.regex, cp.re.flags)).map((cp) => cp.pattern.id),
    );
    expect(slow).toEqual([]);
  });

  test("agrees with the reference on lines mutated from the examples", () => {
    // Cut every example at many points: prefixes and suffixes exercise partial literals and anchors.
    let compared = 0;
    for (const sp of all.values()) {
      for (const cp of sp.patterns) {
        for (const ex of [...cp.pattern.examples, ...cp.pattern.counter_examples]) {
          for (let cut = 0; cut < ex.length; cut += 7) {
            for (const line of [ex.slice(cut), ex.slice(0, cut)]) {
              const ref = referenceMatch(sp, line);
              const m = matcher.match(sp.service, line);
              expect([line, m?.pattern.id, m?.fields]).toEqual([line, ref?.cp.pattern.id, ref?.fields]);
              compared++;
            }
          }
        }
      }
    }
    expect(compared).toBeGreaterThan(5000);
  });
});

describe("a service without literal prefilters", () => {
  test("case-insensitive and literal-free patterns are still tried, in file order", () => {
    const sp = parsePatternsText(
      `service: app
description: t
log_paths: []
policy: { description: none, rules: [] }
patterns:
  - { id: short, regex: '^\\d+ ab$', severity: info, category: t, description: t, examples: ['12 ab'] }
  - { id: nocase, regex: 'disk full', flags: i, severity: error, category: t, description: t, examples: ['DISK FULL'] }
  - { id: lit, regex: 'timeout after (?<s>\\d+)s', severity: error, category: t, description: t, examples: ['timeout after 5s'] }
`,
      "app.yml",
    );
    const m = createMatcher(sp);
    expect(m.match("app", "12 ab")?.pattern.id).toBe("short");
    expect(m.match("app", "Disk Full on /var")?.pattern.id).toBe("nocase");
    expect(m.match("app", "timeout after 5s")?.fields).toEqual({ s: "5" });
    expect(m.match("app", "all good")).toBeNull();
  });
});

describe("requiredLiterals", () => {
  test.each([
    [
      String.raw`open\(\) "(?<path>[^"]+)" failed \(13: Permission denied\)`,
      [`" failed (13: Permission denied)`],
    ],
    [
      "sorry, too many clients already|remaining connection slots",
      ["sorry, too many clients already", "remaining connection slots"],
    ],
    ["(?:foo)?bar baz?x{0,2}qq+rs", ["bar ba"]],
    [String.raw`Worker \((?<p>\d+)\) CPU time limit`, [") CPU time limit"]],
    [String.raw`\[emerg\] `, ["[emerg] "]],
    [String.raw`a[bcd]ef\x41gh\u0041ij\k<x>kl`, undefined],
    ["deadlock|ab", undefined],
  ])("%s", (src, expected) => {
    expect(requiredLiterals(src)).toEqual(expected as string[] | undefined);
  });

  test("the i flag disables the literal prefilter", () => {
    expect(requiredLiterals("deadlock detected", "i")).toBeUndefined();
  });
});
