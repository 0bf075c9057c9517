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
