import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, mkdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ChangeTarget } from "../core/patterns/schema.ts";
import { changeByPath, writeResolved } from "../executor/hostops.ts";
import { createSshTransport } from "../executor/transport/ssh.ts";
import type { Transport } from "../executor/transport/types.ts";
import { type SshdServer, startSshd, tempDir } from "./harness/index.ts";

// The host helper on its own, over a real sshd: the checks it makes on the opened object hold even
// for a path the policy would have passed, since a path can change between the check and the act.
let sshd: SshdServer;
let ssh: Transport;
const tmp = tempDir("mcpmon-helper-");
const outer = join(tmp.path, "www");
const inner = join(outer, "html");
const roots = [outer, inner];
const target: ChangeTarget = { kind: "dir", owners: ["root"], protected: "refuse" };
const modeOf = (p: string) => statSync(p).mode & 0o7777;

beforeAll(async () => {
  mkdirSync(join(inner, "a"), { recursive: true });
  chmodSync(inner, 0o750);
  sshd = await startSshd({ user: "root" });
  ssh = createSshTransport({
    host: sshd.host,
    port: sshd.port,
    user: "root",
    privateKey: sshd.clientKey,
    hostKey: sshd.hostKeyPub,
  });
}, 60_000);

afterAll(async () => {
  await ssh?.close();
  await sshd?.stop();
  tmp.cleanup();
}, 30_000);

const chmod = (mode: string, path: string, t = target) =>
  changeByPath(ssh, "chmod", mode, path, { roots, target: t, timeoutMs: 10_000 });

test("a trailing slash is refused: it would follow a symlink swapped in at the last component", async () => {
  const r = await chmod("755", `${inner}/a/`);
  expect(r.code).toBe(3);
  expect(r.stderr).toContain('ends with "/"');
});

test("a real path that IS a policy root is refused, even when it is below another root (roots nest)", async () => {
  // `lnk/.` opens what the folder link points at: the nested root itself.
  symlinkSync(inner, join(outer, "lnk"));
  const r = await chmod("755", `${outer}/lnk/.`);
  expect(r.code).toBe(3);
  expect(r.stderr).toContain("is a policy root itself");
  expect(modeOf(inner)).toBe(0o750);
});

test("set-id and sticky bits are never set; C1 and bidi characters are refused", async () => {
  const r = await chmod("4755", join(inner, "a"));
  expect([r.code, r.stderr]).toEqual([3, expect.stringContaining("setuid, setgid or sticky")]);
  for (const ch of ["\u0085", "\u202e", "\u2066", "\u2028"]) {
    const bad = await chmod("755", join(inner, `a${ch}b`));
    expect(bad.code).toBe(3);
    expect(bad.stderr).toMatch(/control|bidirectional/);
  }
});

test("write_file: a new file gets the rule's create mode, an existing setuid file loses its special bits", async () => {
  const conf = join(inner, "app.conf");
  const made = await writeResolved(ssh, {
    path: conf,
    content: "db_password = x\n",
    createMode: "0640",
    roots,
    timeoutMs: 10_000,
  });
  expect(made.code).toBe(0);
  expect(modeOf(conf)).toBe(0o640);
  const tool = join(inner, "tool");
  writeFileSync(tool, "#!/bin/sh\n");
  chmodSync(tool, 0o4755);
  const kept = await writeResolved(ssh, {
    path: tool,
    content: "#!/bin/sh\necho\n",
    createMode: "0640",
    roots,
    timeoutMs: 10_000,
  });
  expect(kept.code).toBe(0);
  expect(modeOf(tool)).toBe(0o755);
  const sticky = await writeResolved(ssh, {
    path: tool,
    content: "x",
    mode: "1755",
    createMode: "0640",
    roots,
    timeoutMs: 10_000,
  });
  expect(sticky.code).toBe(3);
});

test("kind, owners and protected names are checked on the opened object", async () => {
  const file = join(inner, "page.html");
  writeFileSync(file, "<p>hi</p>\n");
  chmodSync(file, 0o600);
  const asFile: ChangeTarget = { kind: "file", owners: ["root"], protected: "refuse" };
  expect((await chmod("644", join(inner, "a"), asFile)).stderr).toContain(
    "is a folder; this rule applies to files only",
  );
  expect((await chmod("755", file, target)).stderr).toContain("is a file; this rule applies to folders only");
  expect((await chmod("644", file, { ...asFile, owners: ["www-data"] })).stderr).toContain(
    "belongs to root:root",
  );
  mkdirSync(join(inner, ".git"));
  writeFileSync(join(inner, ".git", "HEAD"), "ref: refs/heads/main\n");
  expect((await chmod("644", join(inner, ".git", "HEAD"), asFile)).stderr).toContain(
    'looks protected on purpose (".git")',
  );
  const ok = await chmod("644", file, asFile);
  expect(ok.code).toBe(0);
  expect(modeOf(file)).toBe(0o644);
});
