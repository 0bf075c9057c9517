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
  const T = "target: { kind: file, owners: [www-data] }";
  const ok = `    - { id: m, type: run, description: d, risk: low, program: chmod, args: [{ enum: ["644"] }, { path: { roots: [/srv] } }], ${T} }`;
  expect(problems(withRule(ok))).toBe("");
  const options = `    - { id: r, type: run, description: d, risk: low, program: chown, args: [{ literal: "-R" }, { enum: [www-data] }, { path: { roots: [/srv] } }], ${T} }`;
  expect(problems(withRule(options))).toContain("chown rules must be exactly");
  const exact = `    - { id: e, type: run, description: d, risk: low, program: chown, args: [{ enum: [www-data] }, { enum: [/srv/x] }], ${T} }`;
  expect(problems(withRule(exact))).toContain("chown rules must be exactly");
});

test("chmod/chown rules name their target (kind and owners), and list modes without set-id or sticky bits", () => {
  const noTarget = `    - { id: m, type: run, description: d, risk: low, program: chmod, args: [{ enum: ["644"] }, { path: { roots: [/srv] } }] }`;
  expect(problems(withRule(noTarget))).toContain('chmod rules need a "target"');
  const setuid = `    - { id: m, type: run, description: d, risk: low, program: chmod, args: [{ enum: ["4755"] }, { path: { roots: [/srv] } }], target: { kind: file, owners: [w] } }`;
  expect(problems(withRule(setuid))).toContain('without setuid, setgid or sticky bits, got "4755"');
  const regexMode = `    - { id: m, type: run, description: d, risk: low, program: chmod, args: [{ regex: "[0-7]{3}" }, { path: { roots: [/srv] } }], target: { kind: file, owners: [w] } }`;
  expect(problems(withRule(regexMode))).toContain("chmod modes must be listed");
  const stray = `    - { id: t, type: run, description: d, risk: low, program: test, args: [{ literal: "-e" }], target: { kind: file, owners: [w] } }`;
  expect(problems(withRule(stray))).toContain('"target" applies only to chmod and chown rules');
  const sticky = `    - { id: w, type: write_file, description: d, risk: low, path: { roots: [/srv] }, modes: ["1644"] }`;
  expect(problems(withRule(sticky))).toContain('mode "1644" must be an octal mode without setuid');
});
