/**
 * Command lines as logs show them: bash's `set -x` trace (what CI jobs and deploy scripts print)
 * and `ps -eo pid,args` of a running process (what a process listing in a crash report holds).
 * The programs need not be installed: bash prints the trace before it looks the command up.
 */
import { type Family, type LabelledLine, label, type Split, secret } from "./label.ts";

interface ShCase {
  split: Split;
  family: Family;
  shape: string;
  cmd: (s: string) => string;
}

const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
const CASES: ShCase[] = [
  { split: "written", family: "cli", shape: "%", cmd: (s) => `mysql -u root -p${q(s)} shop` },
  {
    split: "written",
    family: "cli",
    shape: "%",
    cmd: (s) => `mysqldump --user=backup --password=${q(s)} shop`,
  },
  { split: "written", family: "cli", shape: "%", cmd: (s) => `redis-cli -h cache -a ${q(s)} ping` },
  {
    split: "written",
    family: "cli",
    shape: "%",
    cmd: (s) => `ldapsearch -x -D cn=admin,dc=example,dc=org -w ${q(s)} -b dc=example,dc=org`,
  },
  {
    split: "written",
    family: "cli",
    shape: "%",
    cmd: (s) => `odoo-bin -c /etc/odoo.conf --db_password ${q(s)} -u all`,
  },
  {
    split: "written",
    family: "cli",
    shape: "%",
    cmd: (s) => `curl -fsS -u deploy:${q(s)} https://ci.internal/api/build`,
  },
  { split: "written", family: "cli", shape: "##", cmd: (s) => `deploy.sh --token ${q(s)} --env prod` },
  {
    split: "written",
    family: "cloud",
    shape: "#####",
    cmd: (s) => `aws configure set aws_secret_access_key ${q(s.slice(0, 40))}`,
  },
  {
    split: "written",
    family: "url",
    shape: "%/#",
    cmd: (s) => `psql postgresql://app:${s}@db.internal:5432/shop -c 'select 1'`,
  },
  // Held out.
  { split: "heldout", family: "cli", shape: "%", cmd: (s) => `sshpass -p ${q(s)} ssh deploy@web1 uptime` },
  {
    split: "heldout",
    family: "cli",
    shape: "%",
    cmd: (s) => `docker login -u ci -p ${q(s)} registry.internal`,
  },
  {
    split: "heldout",
    family: "cli",
    shape: "%",
    cmd: (s) => `sqlcmd -S db.internal -U sa -P ${q(s)} -Q 'select 1'`,
  },
  {
    split: "heldout",
    family: "cli",
    shape: "%",
    cmd: (s) => `openssl pkcs12 -export -in c.pem -out c.p12 -passout pass:${q(s)}`,
  },
  {
    split: "heldout",
    family: "cli",
    shape: "##",
    cmd: (s) => `gh-release --client-secret=${q(s)} --repo org/app`,
  },
  {
    split: "heldout",
    family: "cli",
    shape: "%",
    cmd: (s) => `mongosh --host db -u admin -p ${q(s)} --authenticationDatabase admin`,
  },
  {
    split: "heldout",
    family: "cli",
    shape: "%",
    cmd: (s) => `keytool -importkeystore -srcstorepass ${q(s)} -deststorepass ${q(s)}`,
  },
  { split: "heldout", family: "cli", shape: "%", cmd: (s) => `PGPASSWORD=${q(s)} pg_dump -h db -U app shop` },
];

async function run(argv: string[]): Promise<string> {
  const p = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe" });
  const [o, e] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return `${o}\n${e}`;
}

export async function captureShell(): Promise<LabelledLine[]> {
  const out: LabelledLine[] = [];
  for (const c of CASES) {
    const s = secret(c.shape);
    const text = await run(["bash", "-xc", `${c.cmd(s)} 2>/dev/null || true`]);
    out.push(
      ...label(text.split("\n"), {
        family: c.family,
        secrets: [s.slice(0, 40), s],
        source: "bash -x trace (real)",
        split: c.split,
      }),
    );
  }
  // ps: a process started with a password on its command line.
  for (const [split, flag] of [
    ["written", "--password"],
    ["heldout", "--db-pass"],
  ] as const) {
    const s = secret("%");
    const p = Bun.spawn(["python3", "-c", "import time; time.sleep(2)", flag, s, "--workers", "4"], {
      stdout: "ignore",
    });
    await Bun.sleep(300);
    const ps = await run(["ps", "-o", "pid,args", "-p", String(p.pid)]);
    p.kill();
    out.push(
      ...label(ps.split("\n"), {
        family: "cli",
        secrets: [s],
        source: "procps ps -o pid,args (real)",
        split,
      }),
    );
  }
  return out;
}
