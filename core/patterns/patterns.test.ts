import { describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../errors.ts";
import { checkFix } from "../policy/index.ts";
import { checkExamples, referenceMatch } from "./check.ts";
import { EMBEDDED_PATTERNS } from "./embedded.ts";
import { findPatternsDir, loadPatternsDir, loadPatternsFile, parsePatternsText } from "./load.ts";

const DIR = join(import.meta.dir, "../../patterns");
const FILES = readdirSync(DIR).filter((f) => f.endsWith(".yml"));

describe("shipped patterns files", () => {
  test("the four services are shipped and embedded", () => {
    expect(FILES.sort()).toEqual(["nginx.yml", "odoo.yml", "postgres.yml", "redis.yml"]);
    expect(Object.keys(EMBEDDED_PATTERNS).sort()).toEqual(FILES);
  });

  for (const name of FILES) {
    describe(name, () => {
      const sp = loadPatternsFile(join(DIR, name));

      test("has at least 12 patterns, each with examples and counter-examples", () => {
        expect(sp.patterns.length).toBeGreaterThanOrEqual(12);
        for (const { pattern } of sp.patterns) {
          expect(pattern.examples.length).toBeGreaterThan(0);
          expect(pattern.counter_examples.length).toBeGreaterThan(0);
        }
      });

      // Each example must be claimed by its own pattern (and not an earlier one: first match wins),
      // and each counter-example by none; problems are listed by pattern id to be fixable at once.
      test("every example matches its own pattern first; no counter-example matches", () => {
        expect(checkExamples(sp).map((p) => `${p.path} ${p.message}`)).toEqual([]);
      });

      test("remediation actions are typed actions with known placeholders", () => {
        for (const { pattern, groups } of sp.patterns) {
          for (const a of pattern.remediation?.actions ?? []) {
            expect(["run", "write_file", "service"]).toContain((a as { type: string }).type);
          }
          const text = JSON.stringify(pattern.remediation ?? {});
          for (const m of text.matchAll(/\$\{(\w+)\}/g)) expect(groups).toContain(m[1]!);
        }
      });

      // Fields come from an untrusted log line, so the policy (not the template) is what keeps a
      // fix safe; a shipped remediation must still pass it for a real example, at its stated risk.
      test("every remediation, filled from an example, is allowed by the file's own policy", () => {
        for (const cp of sp.patterns) {
          const r = cp.pattern.remediation;
          if (!r) continue;
          const decisions = cp.pattern.examples.map((line) => {
            const fields = referenceMatch(sp, line)!.fields;
            const fill = (x: unknown): unknown =>
              typeof x === "string"
                ? x.replace(/\$\{(\w+)\}/g, (_, k: string) => fields[k] ?? "")
                : Array.isArray(x)
                  ? x.map(fill)
                  : x && typeof x === "object"
                    ? Object.fromEntries(Object.entries(x).map(([k, val]) => [k, fill(val)]))
                    : x;
            return checkFix(
              sp.spec.policy,
              fill({ ...r, claimed_risk: r.risk }) as Parameters<typeof checkFix>[1],
            );
          });
          const ok = decisions.find((d) => d.allowed);
          expect({
            id: cp.pattern.id,
            refused: ok ? [] : decisions[0]!.refused.map((x) => x.reason),
          }).toEqual({
            id: cp.pattern.id,
            refused: [],
          });
          expect({ id: cp.pattern.id, risk: ok!.risk }).toEqual({ id: cp.pattern.id, risk: r.risk });
        }
      });

      test("the embedded copy is the file on disk", () => {
        const embedded = parsePatternsText(EMBEDDED_PATTERNS[name]!, name);
        expect(embedded.spec).toEqual(sp.spec);
      });

      test("the header regex yields time, level and pid from the first example", () => {
        const h = sp.header!;
        const line = sp.patterns.flatMap((p) => p.pattern.examples).find((l) => h.test(l))!;
        const g = h.exec(line)!.groups!;
        expect(g.time).toBeTruthy();
        expect(g.level).toBeTruthy();
        expect(g.pid).toMatch(/^\d+$/);
      });
    });
  }
});

describe("remediations under an attacker's log line", () => {
  test("a crafted path outside the web roots makes the nginx chmod fix refused", () => {
    const sp = loadPatternsFile(join(DIR, "nginx.yml"));
    const line =
      '2026/11/24 01:02:03 [crit] 1234#1234: *5 open() "/var/www/../../etc/shadow" failed (13: Permission denied), client: 127.0.0.1';
    const hit = referenceMatch(sp, line)!;
    expect(hit.cp.pattern.id).toBe("nginx-permission-denied");
    const r = hit.cp.pattern.remediation!;
    const fix = JSON.parse(JSON.stringify(r).replaceAll("$" + "{path}", hit.fields.path!));
    expect(checkFix(sp.spec.policy, fix).allowed).toBe(false);
  });
});

describe("patterns are anchored: client text never chooses the pattern or its fields", () => {
  const load = (name: string) => loadPatternsFile(join(DIR, name));

  // A pattern must match at the start of the message (or record), where the service writes its own
  // words, never further on where a Referer, a Host, a user name or a SQL statement may say anything.
  // Odoo patterns that read a traceback anchor on it: its frames are indented and its exception
  // line is the first one after them that is not.
  for (const name of FILES) {
    test(`${name}: no pattern matches its own examples behind client text`, () => {
      const sp = load(name);
      const loose: string[] = [];
      for (const cp of sp.patterns) {
        for (const line of cp.pattern.examples) {
          const hit = referenceMatch(sp, line)!;
          const target = cp.pattern.on === "record" ? line : hit.message;
          const prefixes = ['client: 1, referrer: "x"\n'];
          // The first line of a record with a traceback is free text; the traceback is the anchor.
          if (!/^[^\n]*\nTraceback /.test(target)) prefixes.push('client: 1, referrer: "x" ');
          for (const p of prefixes)
            if (cp.re.test(p + target))
              loose.push(`${cp.pattern.id}: ${JSON.stringify(p + target).slice(0, 80)}`);
        }
      }
      expect(loose).toEqual([]);
    });
  }

  /** The fix a match would propose, with its fields filled in (null without a remediation). */
  const proposal = (name: string, line: string) => {
    const sp = load(name);
    const hit = referenceMatch(sp, line);
    const r = hit?.cp.pattern.remediation;
    if (!hit || !r) return { id: hit?.cp.pattern.id ?? null, fields: hit?.fields ?? {}, fix: null };
    const fix = JSON.parse(
      JSON.stringify(r).replace(/\$\{(\w+)\}/g, (_, k: string) =>
        JSON.stringify(hit.fields[k] ?? "").slice(1, -1),
      ),
    );
    return { id: hit.cp.pattern.id, fields: hit.fields, fix, decision: checkFix(sp.spec.policy, fix) };
  };

  test("nginx: a Referer that imitates a permission error on a 404 is a 404, with no field from the Referer", () => {
    const line =
      '2026/11/24 01:02:03 [error] 1234#1234: *9 open() "/var/www/html/nope" failed (2: No such file or directory), client: 127.0.0.1, server: localhost, request: "GET /nope HTTP/1.1", host: "127.0.0.1:18777", referrer: "x" open() "/var/www/app/.env" failed (13: Permission denied), client: 1"';
    const p = proposal("nginx.yml", line);
    expect(p.id).toBe("nginx-file-not-found");
    expect(p.fields).toEqual({ path: "/var/www/html/nope", client: "127.0.0.1" });
    expect(p.fix).toBeNull();
  });

  test("nginx: a real 403 with that Referer is reported, but without a path to chmod", () => {
    const line =
      '2026/11/24 01:02:03 [crit] 1234#1234: *12 open() "/var/www/html/a.png" failed (13: Permission denied), client: 10.0.0.7, server: localhost, request: "GET /a.png HTTP/1.1", host: "localhost", referrer: "x" open() "/var/www/app/.env" failed (13: Permission denied), client: 1"';
    const p = proposal("nginx.yml", line);
    expect(p.id).toBe("nginx-permission-denied-ambiguous");
    expect(p.fields).toEqual({});
    expect(p.fix).toBeNull();
  });

  test("nginx: quotes decoded from the URL cannot cut the path short to name another file", () => {
    // GET /app/.env%22%20failed%20(13:...: nginx opens "/var/www/html/app/.env\" failed (13: …"
    // (no such file) and writes the decoded path verbatim between the quotes.
    const line =
      '2026/11/24 01:02:03 [error] 1234#1234: *10 open() "/var/www/html/app/.env" failed (13: Permission denied), client: 1, server: s, request: "" failed (2: No such file or directory), client: 127.0.0.1, server: localhost, request: "GET /app/.env%22%20failed%20(13:%20Permission%20denied),%20client:%201,%20server:%20s,%20request:%20%22 HTTP/1.1", host: "localhost"';
    const p = proposal("nginx.yml", line);
    expect(p.id).not.toBe("nginx-permission-denied");
    expect(p.fix).toBeNull();
    // The same request without the trick matches the rule, path and all; the policy then refuses
    // the fix, since a .env file is protected on purpose.
    const real = proposal(
      "nginx.yml",
      '2026/11/24 01:02:03 [error] 1234#1234: *10 open() "/var/www/html/app/.env" failed (13: Permission denied), client: 127.0.0.1, server: localhost, request: "GET /app/.env HTTP/1.1", host: "localhost"',
    );
    expect(real.id).toBe("nginx-permission-denied");
    expect(real.fields.path).toBe("/var/www/html/app/.env");
    expect(real.decision?.allowed).toBe(false);
    expect(real.decision?.refused[0]?.reason).toContain('looks protected on purpose (".env"');
    const plain = proposal(
      "nginx.yml",
      '2026/11/24 01:02:03 [error] 1234#1234: *10 open() "/var/www/html/app/logo.png" failed (13: Permission denied), client: 127.0.0.1, server: localhost, request: "GET /app/logo.png HTTP/1.1", host: "localhost"',
    );
    expect(plain.decision?.allowed).toBe(true);
  });

  test("postgres: SQL text that quotes a server message chooses no pattern with a fix", () => {
    for (const line of [
      '2026-11-24 01:02:03.123 UTC [4242] app@app ERROR:  column "checkpoints are occurring too frequently (1 second apart)" does not exist at character 8',
      "2026-11-24 01:02:03.123 UTC [4242] app@app ERROR:  relation \"notes\" does not exist at character 15\n2026-11-24 01:02:03.123 UTC [4242] app@app STATEMENT:  SELECT * FROM notes WHERE body = 'sorry, too many clients already'",
      '2026-11-24 01:02:03.123 UTC [4242] app@app ERROR:  syntax error at or near "x" at character 1\n2026-11-24 01:02:03.123 UTC [4242] app@app STATEMENT:  x PANIC:  remaining connection slots are reserved',
    ]) {
      expect(proposal("postgres.yml", line).fix).toBeNull();
    }
    expect(
      proposal(
        "postgres.yml",
        "2026-11-24 01:55:01.632 UTC [6322] FATAL:  remaining connection slots are reserved for roles with the SUPERUSER attribute",
      ).id,
    ).toBe("pg-too-many-clients");
  });

  test("redis: a client reply that echoes an OOM or RDB error (unknown command) proposes no fix", () => {
    for (const line of [
      "(error) ERR unknown command 'x', with args beginning with: 'OOM command not allowed when used memory > 'maxmemory'.' ",
      "ERR unknown command 'Failed opening the temp RDB file temp-1.rdb (in server root dir /var/lib/redis) for saving: Permission denied', with args beginning with: ",
    ]) {
      expect(proposal("redis.yml", line)).toMatchObject({ id: null, fix: null });
    }
    expect(proposal("redis.yml", "OOM command not allowed when used memory > 'maxmemory'.").id).toBe(
      "redis-oom-command",
    );
  });

  test("odoo: a job name or a user error that quotes a port clash does not restart Odoo", () => {
    const job =
      "2026-11-24 01:02:03,123 4242 INFO prod odoo.addons.base.models.ir_cron: Job `websocket: Address already in use: ('0.0.0.0', 8072)` done.";
    expect(proposal("odoo.yml", job)).toMatchObject({ id: null, fix: null });
    const userError =
      '2026-11-24 01:02:03,123 4343 WARNING prod odoo.http: Exception during request handling.\nTraceback (most recent call last):\n  File "/usr/lib/python3/dist-packages/odoo/addons/sale/models/sale_order.py", line 812, in action_confirm\n    raise UserError(msg)\nodoo.exceptions.UserError: Evented Service (websocket) running on 0.0.0.0:8072\nTraceback (most recent call last):\n  File "x", line 1, in y\nOSError: [Errno 98] Address already in use: (\'0.0.0.0\', 8072)';
    const p = proposal("odoo.yml", userError);
    expect(p).toMatchObject({
      id: "odoo-traceback",
      fields: { exception: "odoo.exceptions.UserError" },
      fix: null,
    });
  });
});

describe("loader errors", () => {
  const minimal = (service: string, regex: string) => `service: ${service}
description: test
log_paths: [/var/log/${service}.log]
policy:
  description: nothing
  rules: []
patterns:
  - id: ${service}-ok
    regex: 'fine'
    severity: info
    category: test
    description: ok
    examples: ["fine"]
  - id: ${service}-broken
    regex: '${regex}'
    severity: error
    category: test
    description: broken
    examples: ["x"]
`;

  test("an invalid regex is a ConfigError naming file, line, key path and pattern id", () => {
    const dir = mkdtempSync(join(tmpdir(), "mcpmon-patterns-"));
    const file = join(dir, "broken.yml");
    writeFileSync(file, minimal("broken", "open\\\\(\\\\) (unclosed"));
    let err: unknown;
    try {
      loadPatternsFile(file);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as ConfigError).message;
    expect(msg).toContain(`${file}:15 patterns.1.regex: (broken-broken) invalid regular expression`);
  });

  test("duplicate ids and a file name that differs from the service are refused", () => {
    const text = minimal("svc", "x").replace("svc-broken", "svc-ok");
    expect(() => parsePatternsText(text, "patterns/other.yml")).toThrow(
      /other\.yml:1 service: must equal the file name "other"[\s\S]*duplicate pattern id "svc-ok"/,
    );
  });

  test("a remediation placeholder must be a named group", () => {
    const text = minimal("svc", "x").replace(
      '    examples: ["fine"]',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a remediation placeholder, not a template
      "    remediation: {description: d, risk: low, actions: [{type: run, program: echo, args: ['${nope}']}]}\n    examples: [\"fine\"]",
    );
    expect(() => parsePatternsText(text, "svc.yml")).toThrow(/\$\{nope\} is not a named group/);
  });
});

describe("a new service is one YAML file and no code", () => {
  test("patterns/myapp.yml in a folder is loaded and matches", () => {
    const dir = mkdtempSync(join(tmpdir(), "mcpmon-patterns-"));
    writeFileSync(
      join(dir, "myapp.yml"),
      `service: myapp
description: an in-house app
log_paths: [/var/log/myapp/app.log]
header: { regex: '^(?<time>\\S+) (?<level>[A-Z]+) \\[(?<pid>\\d+)\\] ' }
policy: { description: restart only, rules: [{ id: restart, type: service, description: restart, risk: medium, ops: [restart] }] }
patterns:
  - id: myapp-db-down
    regex: 'cannot reach database (?<db>\\w+)'
    severity: critical
    category: database
    description: the app lost its database
    examples: ['2026-11-24T01:02:03Z ERROR [42] cannot reach database orders']
    counter_examples: ['2026-11-24T01:02:03Z INFO [42] reached database orders']
`,
    );
    const all = loadPatternsDir(dir);
    expect([...all.keys()]).toEqual(["myapp"]);
    const sp = all.get("myapp")!;
    expect(checkExamples(sp)).toEqual([]);
    const hit = referenceMatch(sp, "2026-11-24T01:02:03Z ERROR [42] cannot reach database orders");
    expect(hit?.fields).toEqual({ db: "orders" });
    expect(findPatternsDir({ MCP_PATTERNS_DIR: dir })).toBe(dir);
    expect([...loadPatternsDir(dir, { withShipped: true }).keys()].sort()).toEqual([
      "myapp",
      "nginx",
      "odoo",
      "postgres",
      "redis",
    ]);
  });

  test("without a patterns folder the embedded files are used", () => {
    const all = loadPatternsDir(null);
    expect([...all.keys()].sort()).toEqual(["nginx", "odoo", "postgres", "redis"]);
    expect(all.get("nginx")!.file).toBe("embedded:nginx.yml");
  });
});
