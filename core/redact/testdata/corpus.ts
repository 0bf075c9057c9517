/**
 * Redaction corpus: realistic secret-bearing log lines and ordinary lines that must pass untouched.
 * Used by redact.test.ts (correctness) and bench/redact.bench.ts (throughput).
 *
 * The fake secrets are generated at load time from a fixed seed rather than written out, so this
 * file holds no string that secret scanners (ours or GitHub's) would flag, while every value is
 * still well formed (right prefix, alphabet and length). Card numbers are the networks' public
 * test numbers.
 */
import type { RedactKind } from "../types.ts";

export { ORDINARY_LINES } from "./ordinary-lines.ts";

export interface SecretLine {
  line: string;
  /** Substrings that must not survive redaction. */
  secrets: string[];
  /** Exactly the kinds redact() must report, in any order. */
  kinds: RedactKind[];
}

// mulberry32: tiny deterministic PRNG, so the corpus is the same on every run.
let seed = 0x5eed1234;
function rand(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
function pick(alphabet: string, n: number): string {
  let s = "";
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(rand() * alphabet.length)];
  // Random keys hold at least one digit; force one so the corpus never depends on luck.
  return /\d/.test(s) || n < 4 ? s : s.slice(0, -1) + "7";
}
const alnum = (n: number) => pick(ALNUM, n);
const upper = (n: number) => pick("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", n);
const b64 = (n: number) => pick(ALNUM + "+/", n);
const b64url = (n: number) => pick(ALNUM + "-_", n);
const digits = (n: number) => pick("0123456789", n);
const pw = () => pick(ALNUM + "!#%^*()-_.~", 14);

const ant = () => "sk-ant-api03-" + b64url(86) + "-" + b64url(6) + "AA";
const jwt = () => "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ" + b64url(60) + "." + b64url(43);
const stripe = (p: string) => p + "_live_" + alnum(24);
const key = (p: string) => p + alnum(36);
const slack = (p: string) => p + "-" + digits(12) + "-" + digits(13) + "-" + alnum(24);
const pemBody = () => Array.from({ length: 4 }, () => b64(64));

function s(line: string, secrets: string[], kinds: RedactKind[]): SecretLine {
  return { line, secrets, kinds };
}
function line(make: (...v: string[]) => string, values: string[], kinds: RedactKind[]): SecretLine {
  return s(make(...values), values, kinds);
}

const P = pw;
const ts = "2024-05-14 10:22:31.123 UTC";
const ngx = "2024/05/14 10:22:31 [error] 1234#1234: *5678";
const acc = '10.0.0.7 - - [14/May/2024:10:22:31 +0000] "GET';

export const SECRET_LINES: SecretLine[] = [
  // nginx
  line(
    (t) =>
      `${ngx} upstream timed out (110: Connection timed out) while reading response header from upstream, client: 10.0.0.7, server: api.example.com, request: "GET /v1/orders HTTP/1.1", upstream: "http://127.0.0.1:8069/v1/orders", host: "api.example.com", authorization: "Bearer ${t}"`,
    [alnum(40)],
    ["authorization"],
  ),
  line(
    (t) => `${acc} /api/v1/export?api_key=${t}&format=csv HTTP/1.1" 200 1532 "-" "python-requests/2.31.0"`,
    [alnum(32)],
    ["secret"],
  ),
  line(
    (t) => `${acc} /oauth/callback?code=abc&access_token=${t} HTTP/1.1" 302 0 "-" "Mozilla/5.0"`,
    [b64url(43)],
    ["secret"],
  ),
  line(
    (t) => `${acc} /admin HTTP/1.1" 401 188 "-" "curl/8.5.0" "Authorization: Basic ${t}"`,
    [b64(28) + "=="],
    ["authorization"],
  ),
  line(
    (t) =>
      `${ngx} access forbidden by rule, client: 10.0.0.9, request: "POST /graphql HTTP/2.0", headers: "Proxy-Authorization: Basic ${t}"`,
    [b64(32)],
    ["authorization"],
  ),
  line(
    (t) =>
      `${ngx} auth request unexpected status: 500 while sending to client, request: "GET /api?access_token=${t} HTTP/1.1"`,
    [jwt()],
    ["jwt"],
  ),
  line((t) => `${acc} /me HTTP/1.1" 200 88 "-" "okhttp/4.12" "Bearer ${t}"`, [jwt()], ["jwt"]),
  // PostgreSQL
  line(
    (p) =>
      `${ts} [4242] FATAL:  password authentication failed for user "odoo"; conninfo: host=db port=5432 user=odoo password=${p} dbname=prod`,
    [P()],
    ["password"],
  ),
  line(
    (p) => `${ts} [4250] LOG:  statement: ALTER ROLE odoo WITH LOGIN PASSWORD '${p}'`,
    [P()],
    ["password"],
  ),
  line(
    (p) =>
      `${ts} [4251] LOG:  statement: CREATE ROLE report ENCRYPTED PASSWORD '${p}' VALID UNTIL 'infinity'`,
    [P()],
    ["password"],
  ),
  line(
    (p) => `psql "host=db.internal port=5432 user=app password=${p} sslmode=require" -c 'select 1'`,
    [P()],
    ["password"],
  ),
  line((p) => `PGPASSWORD=${p} pg_dump -h db -U app -Fc prod -f /backup/prod.dump`, [P()], ["password"]),
  line(
    (p) =>
      `pg_basebackup: error: could not connect: dsn "postgresql://replicator:${p}@10.0.0.5:5432/postgres?sslmode=prefer"`,
    [P()],
    ["url-password"],
  ),
  // Odoo / Python
  line(
    (p) =>
      `2024-05-14 10:22:31,123 4242 ERROR prod odoo.sql_db: Connection to the database failed: dsn "dbname='prod' user='odoo' password='${p}' host='db' port=5432"`,
    [P()],
    ["password"],
  ),
  line(
    (p) =>
      `    result = psycopg2.connect(dsn="host=db user=odoo password=${p}", connection_factory=PsycoConnection)`,
    [P()],
    ["password"],
  ),
  line(
    (p) =>
      `sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) engine=create_engine('postgresql+psycopg2://app:${p}@db:5432/app')`,
    [P()],
    ["url-password"],
  ),
  line(
    (p) =>
      `  File "/opt/app/settings.py", line 42, in <module>\n    DATABASES = {'default': {'USER': 'app', 'PASSWORD': '${p}', 'HOST': 'db'}}`,
    [P()],
    ["password"],
  ),
  line(
    (p) =>
      `celery.worker.consumer: consumer: Cannot connect to amqp://celery:${p}@rabbitmq:5672//: [Errno 111] Connection refused.`,
    [P()],
    ["url-password"],
  ),
  line(
    (p) =>
      `pymongo.errors.ServerSelectionTimeoutError: mongodb+srv://admin:${p}@cluster0.ab12c.mongodb.net/shop?retryWrites=true&w=majority`,
    [P()],
    ["url-password"],
  ),
  line(
    (p) =>
      `django.db.utils.OperationalError: (2003, "Can't connect") url=mysql://root:${p}@127.0.0.1:3306/shop`,
    [P()],
    ["url-password"],
  ),
  line(
    (k) =>
      `openai.AuthenticationError: Error code: 401 - {'error': {'message': 'Incorrect API key provided: ${k}.'}}`,
    ["sk-proj-" + b64url(48)],
    ["openai-key"],
  ),
  line((k) => `anthropic.AuthenticationError: invalid x-api-key ${k}`, [ant()], ["anthropic-key"]),
  line(
    (k) => `stripe.error.AuthenticationError: Invalid API Key provided: ${k}`,
    [stripe("sk")],
    ["stripe-key"],
  ),
  line((p) => `{'host': 'db', 'user': 'odoo', 'api_key': '${p}'}`, [alnum(40)], ["secret"]),
  // Redis
  line((p) => `1715682151.123456 [0 10.0.0.7:51234] "AUTH" "${p}"`, [P()], ["password"]),
  line((p) => `1715682151.223456 [0 10.0.0.7:51235] "AUTH" "default" "${p}"`, [P()], ["password"]),
  line(
    (p) => `redis-cli -h cache.internal -p 6379 -a ${p} --no-auth-warning INFO replication`,
    [P()],
    ["password"],
  ),
  line(
    (p) => `1:M 14 May 2024 10:22:31.123 # CONFIG REWRITE executed: requirepass ${p}`,
    [P()],
    ["password"],
  ),
  line((p) => `127.0.0.1:6379> AUTH ${p}`, [P()], ["password"]),
  line(
    (p) => `ioredis: [ioredis] Unhandled error event: ReplyError: connecting to redis://:${p}@cache:6379/0`,
    [P()],
    ["url-password"],
  ),
  line((p) => `masterauth ${p}`, [P()], ["password"]),
  // Application JSON logs
  line(
    (p) => `{"level":"error","msg":"login failed","body":{"username":"alice","password":"${p}"}}`,
    [P()],
    ["password"],
  ),
  line(
    (p) => `{"level":"info","req_body":"{\\"email\\":\\"a@example.com\\",\\"password\\":\\"${p}\\"}"}`,
    [P()],
    ["password"],
  ),
  line(
    (k) => `{"event":"outbound","headers":{"x-api-key":"${k}","content-type":"application/json"}}`,
    [ant()],
    ["anthropic-key"],
  ),
  line(
    (k) => `{"AccessKeyId": "${k}", "Expiration": "2024-05-14T11:22:31Z"}`,
    ["ASIA" + upper(16)],
    ["aws-access-key"],
  ),
  line(
    (a, b) => `{"SecretAccessKey": "${a}", "SessionToken": "${b}"}`,
    [b64(40), b64(120)],
    ["aws-secret", "secret"],
  ),
  line((t) => `{"msg":"github sync","access_token":"${t}","scope":"repo"}`, [key("gho_")], ["github-token"]),
  line(
    (t) => `{"level":"warn","client_secret":"${t}","grant_type":"client_credentials"}`,
    [alnum(32)],
    ["secret"],
  ),
  line(
    (c) => `{"level":"error","msg":"charge failed","card_number":"${c}","amount":1999}`,
    ["4111 1111 1111 1111"],
    ["credit-card"],
  ),
  line(
    (c) => `payment declined for card ${c} amount=12.00 currency=EUR`,
    ["5555-5555-5555-4444"],
    ["credit-card"],
  ),
  line((c) => `checkout: pan=${c} brand=amex`, ["378282246310005"], ["credit-card"]),
  line((a, b) => `refund batch: cards ${a}, ${b}`, ["6011111111111117", "30569309025904"], ["credit-card"]),
  line((t) => `jwt: signature verification failed for ${t}: token expired`, [jwt()], ["jwt"]),
  line((t) => `upstream rejected request: Bearer ${t} is not valid`, [b64url(32)], ["bearer"]),
  line((t) => `2024-05-14T10:22:31Z INFO http > Authorization: Bearer ${t}`, [alnum(40)], ["authorization"]),
  line(
    (p) =>
      `ERROR c.e.DataSource - init failed {url=jdbc:postgresql://db/prod, user=app, password=${p}, pool=10}`,
    [P()],
    ["password"],
  ),
  line(
    (p) => `odbc: Driver={ODBC Driver 18 for SQL Server};Server=tcp:db,1433;Uid=sa;Pwd=${p};Encrypt=yes;`,
    [P()],
    ["password"],
  ),
  line((p) => `mysql: CREATE USER 'app'@'%' IDENTIFIED BY '${p}'`, [P()], ["password"]),
  // Environment dumps and config
  line((k) => `AWS_ACCESS_KEY_ID=${k}`, ["AKIA" + upper(16)], ["aws-access-key"]),
  line((k) => `AWS_SECRET_ACCESS_KEY=${k}`, [b64(40)], ["aws-secret"]),
  line((k) => `aws_secret_access_key = ${k}`, [b64(40)], ["aws-secret"]),
  line((t) => `GITHUB_TOKEN=${t}`, [key("ghp_")], ["github-token"]),
  line((t) => `SLACK_BOT_TOKEN=${t}`, [slack("xoxb")], ["slack-token"]),
  line(
    (t) => `SLACK_APP_TOKEN=${t}`,
    ["xapp-1-A0" + upper(9) + "-" + digits(13) + "-" + alnum(64)],
    ["slack-token"],
  ),
  line((k) => `STRIPE_RESTRICTED_KEY=${k}`, [stripe("rk")], ["stripe-key"]),
  line((k) => `GOOGLE_MAPS_API_KEY=${k}`, ["AIza" + b64url(35)], ["google-api-key"]),
  line(
    (a, b, c) => `DATABASE_URL=postgres://app:${a}@db/app REDIS_URL=redis://:${b}@cache:6379 SECRET_KEY=${c}`,
    [P(), P(), alnum(50)],
    ["url-password", "secret"],
  ),
  line((p) => `  client_secret: ${p}`, [alnum(32)], ["secret"]),
  line((p) => `access_key: ${p}`, [alnum(24)], ["secret"]),
  line((p) => `passwd=${p}`, [P()], ["password"]),
  line((p) => `token: ${p}`, [alnum(40)], ["secret"]),
  line((p) => `apikey=${p}`, [alnum(40)], ["secret"]),
  line((p) => `export DB_PASS='${p}'`, [P()], ["password"]),
  // Commands (shell history, cron mail, CI logs)
  line((p) => `curl -sS -u admin:${p} https://grafana.internal/api/health`, [P()], ["password"]),
  line(
    (p) => `curl -X POST https://api.example.com/login --data 'user=bob&password=${p}'`,
    [P()],
    ["password"],
  ),
  line((k) => `curl -H 'X-API-Key: ${k}' https://api.example.com/v2/items`, [alnum(40)], ["secret"]),
  line(
    (t) => `curl -H "Authorization: token ${t}" https://api.github.com/user`,
    ["github_pat_" + alnum(22) + "_" + alnum(59)],
    ["github-token"],
  ),
  line((p) => `mysqldump -u root -p${p} --single-transaction shop > /backup/shop.sql`, [P()], ["password"]),
  line((p) => `sshpass -p '${p}' ssh deploy@web1.internal 'systemctl reload nginx'`, [P()], ["password"]),
  line((p) => `odoo-bin --db_host=db --db_user=odoo --db_password=${p} -d prod`, [P()], ["password"]),
  line((p) => `vault login --token ${p}`, ["hvs." + alnum(24)], ["vault-token"]),
  line((p) => `pgbouncer --password "${p}" /etc/pgbouncer.ini`, [P()], ["password"]),
  line(
    (t) =>
      `fatal: unable to access 'https://x-access-token:${t}@github.com/org/repo.git/': The requested URL returned error: 403`,
    [key("ghs_")],
    ["github-token"],
  ),
  line((a, b) => `runner: using ${a} and ${b}`, [key("ghu_"), key("ghr_")], ["github-token"]),
  line(
    (u) => `POST https://hooks.slack.com/services/${u} failed: 404 no_service`,
    ["T" + upper(8) + "/B" + upper(8) + "/" + alnum(24)],
    ["slack-token"],
  ),
  line(
    (t) => `slack: GET https://slack.com/api/auth.test?token=${t} -> invalid_auth`,
    [slack("xoxp")],
    ["slack-token"],
  ),
  line((t) => `legacy workspace token ${t} revoked`, [slack("xoxa-2")], ["slack-token"]),
  // Private keys: whole block, and a record truncated after the BEGIN line.
  line(
    (a, b) =>
      `ssl: loading key failed:\n-----BEGIN RSA PRIVATE KEY-----\n${a}\n${b}\n-----END RSA PRIVATE KEY-----\nnext`,
    pemBody().slice(0, 2),
    ["private-key"],
  ),
  line(
    (a, b) =>
      `{"msg":"deploy key","key":"-----BEGIN OPENSSH PRIVATE KEY-----\\n${a}\\n${b}\\n-----END OPENSSH PRIVATE KEY-----\\n"}`,
    pemBody().slice(0, 2),
    ["private-key"],
  ),
  line((a, b) => `config dump (truncated): -----BEGIN PRIVATE KEY-----\n${a}\n${b}`, pemBody().slice(0, 2), [
    "private-key",
  ]),
];
