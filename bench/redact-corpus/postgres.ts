/**
 * PostgreSQL with `log_statement = 'all'`: what the server writes when roles get passwords, when a
 * statement that carries one fails (ERROR + STATEMENT), and the ordinary lines around them
 * (failed logins, statements with UUIDs, hashes and trace ids in sqlcommenter comments).
 */
import { readFileSync } from "node:fs";
import { startPostgres } from "../../test/harness/postgres.ts";
import { type LabelledLine, label, randomText, type Split, secret } from "./label.ts";

const SOURCE = "postgres (real server, log_statement=all, log_connections=on)";

interface PgCase {
  split: Split;
  family: "sql" | "url";
  /** SQL with `$S` where the secret goes (already quoted as the statement needs). */
  sql: (s: string) => string;
  shape: string;
}

const CASES: PgCase[] = [
  { split: "written", family: "sql", shape: "%", sql: (s) => `ALTER ROLE mcpmon PASSWORD '${s}';` },
  {
    split: "written",
    family: "sql",
    shape: "%\\'#",
    sql: (s) => `CREATE ROLE app_rw LOGIN PASSWORD E'${s}';`,
  },
  { split: "written", family: "sql", shape: "%'#", sql: (s) => `ALTER ROLE app_rw PASSWORD $$${s}$$;` },
  {
    split: "written",
    family: "sql",
    shape: "%",
    sql: (s) => `ALTER ROLE no_such_role PASSWORD '${s}';`,
  },
  {
    split: "written",
    family: "url",
    shape: "#/#",
    sql: (s) => `CREATE TABLE IF NOT EXISTS settings (k text, v text);
INSERT INTO settings VALUES ('db_url', 'postgresql://report:${s}@db.internal:5432/reports');`,
  },
  // Held out: other spellings of the same families, not looked at while the rules were written.
  {
    split: "heldout",
    family: "sql",
    shape: "%",
    sql: (s) => `CREATE USER svc_batch WITH ENCRYPTED PASSWORD $pw$${s}$pw$;`,
  },
  {
    split: "heldout",
    family: "sql",
    shape: "%",
    sql: (s) => `ALTER USER svc_batch WITH PASSWORD '${s}' VALID UNTIL 'infinity';`,
  },
  {
    split: "heldout",
    family: "sql",
    shape: "%''#",
    sql: (s) => `CREATE ROLE "Report Reader" LOGIN PASSWORD '${s}';`,
  },
  {
    split: "heldout",
    family: "sql",
    shape: "%",
    sql: (s) => `CREATE USER MAPPING FOR mcpmon SERVER remote_pg OPTIONS (user 'etl', password '${s}');`,
  },
  {
    split: "heldout",
    family: "url",
    shape: "#@#",
    sql: (s) => `INSERT INTO settings VALUES ('cache', 'redis://:${s}@cache.internal:6379/0');`,
  },
  {
    split: "heldout",
    family: "url",
    shape: "#%3A#",
    sql: (s) => `INSERT INTO settings VALUES ('amqp', 'amqps://worker:${s}@mq.internal/vhost');`,
  },
];

const hex = (n: number) => randomText(n, "0123456789abcdef");
const uuid = () => `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`;

export async function capturePostgres(): Promise<LabelledLine[]> {
  const pg = await startPostgres({ settings: { log_statement: "'all'", log_connections: "on" } });
  const out: LabelledLine[] = [];
  let offset = readFileSync(pg.logFile).length;
  const newLines = async (): Promise<string[]> => {
    await Bun.sleep(150);
    const buf = readFileSync(pg.logFile);
    const text = buf.subarray(offset).toString("utf8");
    offset = buf.length;
    return text.split("\n");
  };
  try {
    for (const c of CASES) {
      const s = secret(c.shape);
      await pg.psql(c.sql(s));
      out.push(
        ...label(await newLines(), { family: c.family, secrets: [s], source: SOURCE, split: c.split }),
      );
    }
    // Look-alikes: a failed login over TCP, ids and hashes in statements, settings named like secrets.
    const ids = { uuid: uuid(), trace: hex(32), span: hex(16), sha: hex(40), md5: hex(32) };
    const psql = "/usr/bin/psql";
    const wrong = Bun.spawn(
      [
        psql,
        `host=127.0.0.1 port=${pg.port} user=mcpmon dbname=mcpmon password=wrong-${hex(6)}`,
        "-c",
        "select 1",
      ],
      { stdout: "ignore", stderr: "ignore" },
    );
    await wrong.exited;
    await pg.psql(
      [
        `SELECT '${ids.uuid}'::uuid AS request_id /*traceparent='00-${ids.trace}-${ids.span}-01',route='/orders'*/;`,
        `SELECT md5('orders') = '${ids.md5}' AS same, '${ids.sha}' AS commit;`,
        "SHOW password_encryption;",
        "SELECT name, setting FROM pg_settings WHERE name IN ('authentication_timeout', 'password_encryption', 'ssl_key_file');",
        "CREATE TABLE IF NOT EXISTS sessions (session_id uuid primary key, token_count int, api_key_id bigint);",
        `SELECT session_id, token_count FROM sessions WHERE api_key_id = 42 AND session_id = '${ids.uuid}';`,
        "ALTER ROLE app_rw PASSWORD NULL;",
      ].join("\n"),
    );
    out.push(
      ...label(await newLines(), {
        family: "sql",
        secrets: [],
        keep: Object.values(ids),
        source: SOURCE,
        split: "written",
      }),
    );
  } finally {
    await pg.stop();
  }
  return out;
}
