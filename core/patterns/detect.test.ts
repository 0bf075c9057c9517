import { describe, expect, test } from "bun:test";
import type { ConfigError } from "../errors.ts";
import { overrideProblem, unmatchedVerdict } from "./detect.ts";
import { loadPatternsDir, parsePatternsText } from "./load.ts";

const shipped = loadPatternsDir(null);
const pg = shipped.get("postgres")!;
const nginx = shipped.get("nginx")!;

/** A small patterns file with a detect section, for the schema's error messages. */
const file = (detect: string) => `service: demo
description: d
log_paths: [/x]
header:
  regex: '^(?<level>[A-Z]+): '
${detect}
policy: { description: p, rules: [] }
patterns:
  - { id: demo-x, regex: '^x', severity: error, category: c, description: d, examples: ['ERROR: x'] }
`;

describe("detect: the severity catch-all of a patterns file", () => {
  test("every shipped service declares its levels and a threshold", () => {
    expect([...shipped.values()].map((sp) => [sp.service, sp.spec.detect?.min_level])).toEqual([
      ["nginx", "error"],
      ["odoo", "ERROR"],
      ["postgres", "ERROR"],
      ["redis", "#"],
    ]);
  });

  test("a record at or above the threshold ships with its level's severity and the header's fields", () => {
    const v = unmatchedVerdict(
      pg.detect!,
      "2026-12-04 20:51:46.667 UTC [32341] FATAL:  the database system is starting up",
    );
    expect(v).toEqual({
      kind: "ship",
      level: "FATAL",
      severity: "error",
      fields: { time: "2026-12-04 20:51:46.667 UTC", pid: "32341", level: "FATAL" },
    });
    expect(unmatchedVerdict(pg.detect!, "2026-12-04 20:51:46.667 UTC [1] PANIC:  x")).toMatchObject({
      severity: "critical",
    });
  });

  test("below the threshold nothing ships, unless an escalate rule names a failure written at LOG", () => {
    expect(
      unmatchedVerdict(
        pg.detect!,
        "2026-12-04 20:51:25.031 UTC [30979] LOG:  connection received: host=[local]",
      ).kind,
    ).toBe("below");
    const bind =
      '2026-12-04 20:51:25.031 UTC [30979] LOG:  could not bind IPv4 address "127.0.0.1": Address already in use';
    expect(unmatchedVerdict(pg.detect!, bind)).toMatchObject({
      kind: "ship",
      level: "LOG",
      severity: "error",
    });
    // A client that went away is chatter, not a failed system call.
    const gone =
      "2026-12-04 20:51:25.031 UTC [30979] LOG:  could not receive data from client: Connection reset by peer";
    expect(unmatchedVerdict(pg.detect!, gone).kind).toBe("below");
  });

  test("a client may lower the threshold; then ignore rules keep the chatter out", () => {
    const keepalive =
      "2026/12/04 20:51:08 [info] 29903#29903: *2 client 127.0.0.1 closed keepalive connection";
    const ssl =
      "2026/12/04 20:51:11 [info] 30124#30124: *16 SSL_do_handshake() failed (SSL: error:0A000076:SSL routines::no suitable signature algorithm) while SSL handshaking, client: 127.0.0.1, server: 127.0.0.1:39609";
    expect(unmatchedVerdict(nginx.detect!, keepalive).kind).toBe("below");
    expect(unmatchedVerdict(nginx.detect!, keepalive, { min_level: "info" })).toEqual({
      kind: "ignored",
      rule: "nginx-ignore-client-closed",
    });
    expect(unmatchedVerdict(nginx.detect!, ssl, { min_level: "info" })).toMatchObject({
      kind: "ship",
      severity: "info",
    });
    // A higher threshold than the file's keeps error lines back.
    const err = "2026/12/04 20:51:11 [error] 1#1: *1 something nobody wrote a pattern for";
    expect(unmatchedVerdict(nginx.detect!, err).kind).toBe("ship");
    expect(unmatchedVerdict(nginx.detect!, err, { min_level: "crit" }).kind).toBe("below");
    expect(unmatchedVerdict(nginx.detect!, err, { unmatched: "drop" }).kind).toBe("below");
  });

  test("the level of nginx's stderr (nginx -t) is read too; a line without a level never ships", () => {
    expect(
      unmatchedVerdict(
        nginx.detect!,
        'nginx: [emerg] unexpected end of file, expecting "}" in /etc/nginx/nginx.conf:9',
      ),
    ).toMatchObject({
      kind: "ship",
      level: "emerg",
      severity: "critical",
    });
    expect(
      unmatchedVerdict(nginx.detect!, "nginx: configuration file /etc/nginx/nginx.conf test failed").kind,
    ).toBe("below");
  });

  test("a threshold or escalate level that is not a level, or a level regex without `level`, is refused by name", () => {
    const problems = (detect: string) => {
      try {
        parsePatternsText(file(detect), "demo.yml");
        return [];
      } catch (err) {
        return (err as ConfigError).problems.map((p) => `${p.path}: ${p.message}`);
      }
    };
    expect(problems("detect: { levels: [{ level: ERROR, severity: error }], min_level: WARN }")).toEqual([
      'detect.min_level: expected one of ERROR, got "WARN"',
    ]);
    expect(
      problems(
        "detect: { levels: [{ level: ERROR, severity: error }], min_level: ERROR, escalate: [{ level: LOG, regex: x, description: d }] }",
      ),
    ).toEqual(['detect.escalate.0.level: expected one of ERROR, got "LOG"']);
    expect(
      problems("detect: { level_regex: '^(\\w+) ', levels: [{ level: E, severity: error }], min_level: E }"),
    ).toEqual(["detect.level_regex: the level regex has no named group `level`"]);
    expect(problems("detect: { levels: [{ level: E, severity: error }], min_level: E }")).toEqual([]);
  });

  test("a client's min_level must be one of its service's levels", () => {
    expect(overrideProblem(pg.spec.detect, "postgres", { min_level: "WARNING" })).toBeNull();
    expect(overrideProblem(pg.spec.detect, "postgres", { min_level: "warn" })).toContain('got "warn"');
    expect(overrideProblem(undefined, "myapp", { min_level: "ERROR" })).toContain("no detect: section");
  });
});
