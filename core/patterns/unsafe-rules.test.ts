import { expect, test } from "bun:test";
import { ConfigError } from "../errors.ts";
import { parsePatternsText } from "./load.ts";

function withRule(rule: string): string {
  return `service: myapp
description: test
log_paths: [/var/log/myapp.log]
policy:
  description: test
  rules:
${rule}
patterns:
  - id: boom
    regex: '^boom'
    severity: error
    category: app
    description: test
    examples: ["boom"]
`;
}

function problems(text: string): string {
  try {
    parsePatternsText(text, "/tmp/myapp.yml");
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  return "";
}

test("a policy may not allow programs that change files by path (a symlink swapped in would be followed)", () => {
  const msg = problems(
    withRule(
      `    - { id: copy, type: run, description: d, risk: low, program: cp, args: [{ path: { roots: [/srv] } }, { path: { roots: [/srv] } }] }`,
    ),
  );
  expect(msg).toContain("policy.rules.0.program: (copy)");
  expect(msg).toContain("write_file");
  expect(
    problems(withRule(`    - { id: mv, type: run, description: d, risk: low, program: /bin/mv, args: [] }`)),
  ).toContain("(mv)");
});

test("chmod and chown rules are exactly <value> <path>, the shape the race-free helper runs", () => {
  const ok = `    - { id: m, type: run, description: d, risk: low, program: chmod, args: [{ enum: ["644"] }, { path: { roots: [/srv] } }] }`;
  expect(problems(withRule(ok))).toBe("");
  const options = `    - { id: r, type: run, description: d, risk: low, program: chown, args: [{ literal: "-R" }, { enum: [www-data] }, { path: { roots: [/srv] } }] }`;
  expect(problems(withRule(options))).toContain("chown rules must be exactly");
  const exact = `    - { id: e, type: run, description: d, risk: low, program: chown, args: [{ enum: [www-data] }, { enum: [/srv/x] }] }`;
  expect(problems(withRule(exact))).toContain("chown rules must be exactly");
});
