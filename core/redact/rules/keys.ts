/**
 * Keys that mean a secret, in every syntax a log uses (see assign.ts). The scan looks for the
 * vocabulary's word stems, widens each hit to the whole key name, asks vocab.ts how strongly the
 * name means a secret, and reads the value the key was given. One pass, linear in the line.
 */
import type { Rule } from "../types.ts";
import { isPlaceholder } from "../types.ts";
import { tokenLike } from "../values.ts";
import { keyStrength, keyWords, STOPWORDS } from "../vocab.ts";
import { assignedValue, type KeyAt } from "./assign.ts";

const STEMS = /p(?:ass|wd|w)|secret|token|auth|key|sig|cred|s(?:ess|id)|code|hmac/gi;
const MAX_KEY = 64;
// Key characters: identifiers, dotted and dashed names (connect.sid, X-Amz-Signature).
const isKeyChar = (c: number) =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 45 || c === 46;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SCHEME =
  /^(?:basic|bearer|token|digest|negotiate|ntlm|apikey|api-key|key|sso-key|splunk|ssws|aws4-hmac-sha256|gtoken)[ \t]+/i;

/** The key around the stem found at `at`, or undefined when it sits inside a path or word soup. */
function keyAround(text: string, at: number, stemEnd: number): KeyAt | undefined {
  let s = at;
  const floor = Math.max(0, at - MAX_KEY);
  while (s > floor && isKeyChar(text.charCodeAt(s - 1))) s--;
  let e = stemEnd;
  const ceil = Math.min(text.length, stemEnd + MAX_KEY);
  while (e < ceil && isKeyChar(text.charCodeAt(e))) e++;
  while (e > stemEnd && (text[e - 1] === "." || text[e - 1] === "-")) e--;
  let dashes = 0;
  while (text[s + dashes] === "-" && dashes < 2) dashes++;
  // A path component (/etc/passwd), a host name or mail address part, a #fragment.
  const prev = text[s - 1];
  if (prev === "/" || prev === "@" || prev === "#" || prev === "$") return undefined;
  return { start: s + dashes, end: e, dashes, compound: /[_-]/.test(text.slice(s + dashes, e)) };
}

function inQuery(text: string, k: KeyAt): boolean {
  const p = text[k.start - 1];
  return p === "?" || p === "&" || /%(?:25)?(?:3f|26)$/i.test(text.slice(Math.max(0, k.start - 5), k.start));
}

function kindOf(key: string): "password" | "session" | "signature" | "aws-secret" | "azure-key" | "secret" {
  const words = keyWords(key);
  const w = words.join(" ");
  if (/\baws\b.*\bsecret\b|\bsecret access key\b/.test(w)) return "aws-secret";
  if (/\b(?:account|shared access) key\b|\baccountkey\b|\bsharedaccesskey\b/.test(w)) return "azure-key";
  const head =
    words
      .filter((x) => !/^(?:base|value|b64|base64|hex|confirm|confirmation|new|old|current|id|\d)$/.test(x))
      .pop() ?? "";
  if (/pass|pwd|^pw$|masterauth/.test(head) && head !== "passphrase") return "password";
  if (/sess|^sid$/.test(head)) return "session";
  if (/^sig$|signature|hmac/.test(head)) return "signature";
  return "secret";
}

export const keyValue: Rule = {
  name: "secret key = value (any syntax)",
  gate: /p(?:ass|wd|w)|secret|token|auth|key|sig|cred|s(?:ess|id)|code|hmac/i,
  find(text, report) {
    STEMS.lastIndex = 0;
    for (let m = STEMS.exec(text); m !== null; m = STEMS.exec(text)) {
      const k = keyAround(text, m.index, m.index + m[0].length);
      if (!k) continue;
      STEMS.lastIndex = Math.max(STEMS.lastIndex, k.end);
      // The syntax first: most stems in prose ("keyboard", "inside") are followed by no value, and
      // that check is cheaper than splitting the key into words.
      const v = assignedValue(text, k);
      if (!v) continue;
      const key = text.slice(k.start, k.end);
      const strength = keyStrength(key, inQuery(text, k));
      if (!strength) continue;
      let start = v.start;
      let value = text.slice(start, v.end);
      // `Authorization: Bearer x`, `auth="Basic x"`: the scheme word stays readable.
      const scheme = SCHEME.exec(value);
      if (scheme) {
        start += scheme[0].length;
        value = value.slice(scheme[0].length);
      } else if (v.quote === "" && SCHEME.test(`${value} `)) {
        const rest = /^[ \t]+([^\s"'\\,;]{1,4096})/.exec(text.slice(v.end, v.end + 4200));
        if (!rest) continue;
        start = v.end + rest[0].length - rest[1]!.length;
        value = rest[1]!;
      }
      if (isPlaceholder(value) || STOPWORDS.has(value.toLowerCase())) continue;
      if (value.startsWith("{") || value.startsWith("[")) continue; // a nested object: its keys are scanned
      if (/^(?:old)?pwd$/i.test(key) && value.startsWith("/")) continue; // PWD=/home/deploy is a directory
      // `'session:ozAF6Fny'`: a namespaced name (a Redis key), not an assignment.
      if (strength === "weak" && v.glued && /["'\s]/.test(text[k.start - 1] ?? " ")) continue;
      // A session row's UUID in SQL or a URL is what operators look up; session cookies are not UUIDs.
      if (kindOf(key) === "session" && UUID.test(value)) continue;
      // Weak keys, and space-separated values, must look like a credential, not a word or number.
      if (
        (strength === "weak" || v.spaced) &&
        !tokenLike(value) &&
        !(v.spaced && strength === "strong" && /[^A-Za-z]/.test(value) && !/^\d+$/.test(value))
      )
        continue;
      report(start, start + value.length, kindOf(key));
      STEMS.lastIndex = Math.max(STEMS.lastIndex, v.end);
    }
  },
  examples: [
    ["password=hunter2 user=bob", "password=[REDACTED:password] user=bob"],
    ["DB_PASSWORD   =   Tr0ub4dor&3", "DB_PASSWORD   =   [REDACTED:password]"],
    ['{"user":"bob","password":"hunt\\"er2"}', '{"user":"bob","password":"[REDACTED:password]"}'],
    ["{'host': 'db', 'password': \"it's-9x\"}", "{'host': 'db', 'password': \"[REDACTED:password]\"}"],
    [
      'log {"cfg": "{\\"passwd\\": \\"a1\\\\\\"b2\\"}"}',
      'log {"cfg": "{\\"passwd\\": \\"[REDACTED:password]\\"}"}',
    ],
    ['exec ["psql", "password", "S3cret!"]', 'exec ["psql", "password", "[REDACTED:password]"]'],
    ["<auth><password>Jun1per</password></auth>", "<auth><password>[REDACTED:password]</password></auth>"],
    ["<ns0:Password>Jun1per</ns0:Password>", "<ns0:Password>[REDACTED:password]</ns0:Password>"],
    ["    [password] => Harbor0663", "    [password] => [REDACTED:password]"],
    ['  ["password"]=>\n  string(7) "Harbor1"', '  ["password"]=>\n  string(7) "[REDACTED:password]"'],
    ["GET /x?auth=EqCexEQ7&format=csv", "GET /x?auth=[REDACTED:secret]&format=csv"],
    ["GET /cb?code=PxHQTDQ7gEZD4uml&state=xyz", "GET /cb?code=[REDACTED:secret]&state=xyz"],
    ["GET /t?key=h7O8SBgR&z=3", "GET /t?key=[REDACTED:secret]&z=3"],
    ["GET /d?exp=1715682151&sig=zscJM6OBT7084diL", "GET /d?exp=1715682151&sig=[REDACTED:signature]"],
    [
      "next=%2Fadmin%3Fpassword%3DMarmot6041%26x%3D1",
      "next=%2Fadmin%3Fpassword%3D[REDACTED:password]%26x%3D1",
    ],
    ['cookie="theme=dark; sessionid=DPtL6Za2VxBOB64R"', 'cookie="theme=dark; sessionid=[REDACTED:session]"'],
    ["Set-Cookie: PHPSESSID=5J2lxuJPQji8; HttpOnly", "Set-Cookie: PHPSESSID=[REDACTED:session]; HttpOnly"],
    ["Cookie: connect.sid=s%3AabC9dEf0gHi.jk; lang=en", "Cookie: connect.sid=[REDACTED:session]; lang=en"],
    ['auth="Basic eBGqLh4yMBAni1tv"', 'auth="Basic [REDACTED:secret]"'],
    ["X-Auth-Token: EhnXQ58u8kKx\\r\\n", "X-Auth-Token: [REDACTED:secret]\\r\\n"],
    [
      "+ aws configure set aws_secret_access_key ghX3DGCOXjLD7Qj",
      "+ aws configure set aws_secret_access_key [REDACTED:aws-secret]",
    ],
    ["odoo-bin --db_password Velvet4881 -u all", "odoo-bin --db_password [REDACTED:password] -u all"],
    ["deploy.sh --token=ISreRoQ72KyU --env prod", "deploy.sh --token=[REDACTED:secret] --env prod"],
    ["keytool -srcstorepass Marmot1 -v", "keytool -srcstorepass [REDACTED:password] -v"],
    ["SECRET_KEY_BASE=60355c81c52fc117", "SECRET_KEY_BASE=[REDACTED:secret]"],
    [
      "AccountName=shop;AccountKey=3RnbzAS+Mo==;EndpointSuffix=x",
      "AccountName=shop;AccountKey=[REDACTED:azure-key];EndpointSuffix=x",
    ],
    [
      "X-Amz-Credential=AKID%2F2024&X-Amz-Signature=5d6c",
      "X-Amz-Credential=[REDACTED:secret]&X-Amz-Signature=[REDACTED:signature]",
    ],
    ["データ password＝Saffron0957 host＝db01", "データ password＝[REDACTED:password] host＝db01"],
    ["接続 passwd：Saffron0957", "接続 passwd：[REDACTED:password]"],
    ["+ PGPASSWORD=Marmot1234 pg_dump -h db", "+ PGPASSWORD=[REDACTED:password] pg_dump -h db"],
    ['{"auths":{"r":{"auth":"Y2k6Q29wcGVyOTUyOA=="}}}', '{"auths":{"r":{"auth":"[REDACTED:secret]"}}}'],
    ["Secret:      T6JFtFwZba75nG1sieT0", "Secret:      [REDACTED:secret]"],
    ["headers={'X-Api-Key': b'Qw3rTy9zX1ab'}", "headers={'X-Api-Key': b'[REDACTED:secret]'}"],
  ],
  counterExamples: [
    "claude: model=x max_tokens=4096 input_tokens=1523",
    "password_encryption = scram-sha-256",
    '{"token_type":"bearer","expires_in":3600}',
    "GET /keys/rotate?key_id=08fd691f5519&keyspace=orders",
    "GET /search?q=password+reset+help&session_timeout=30",
    "token expired at 2024-05-14T10:22:31Z, refreshing",
    "invalid token: expired",
    "PWD=/home/deploy OLDPWD=/tmp SHELL=/bin/bash",
    "open() /etc/passwd: permission denied",
    "pam_unix(sudo:session): session opened for user root",
    "tests pass=12 fail=0 skip=1",
    "auth=ok cache_key=orders:42 code=200",
    "exit code: 1",
    'kubelet: Secret "db-credentials" not found',
    "ssl_key_file = '/etc/ssl/private/server.key'",
    "SharedAccessKeyName=RootManageSharedAccessKey",
    "CREATE TABLE sessions (session_id uuid primary key, token_count int)",
    "authentication_timeout = 1min",
    "--password-stdin given, reading from stdin",
    "0 -> set([ 'session:ozAF6Fny', '1' ])",
    "SELECT * FROM sessions WHERE session_id = '4299a6f0-d314-4529-ab63-10055aa8f3d8'",
    '{"password": null, "token": "***", "secret": "<hidden>"}',
  ],
};
