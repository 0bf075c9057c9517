/**
 * Which key names mean a secret. A key is split into words (`DB_PASSWORD` → db password,
 * `X-Amz-Signature` → x amz signature, `AccountKey` → account key, `connect.sid` → connect sid);
 * trailing words that only qualify the value (`_base`, `_value`, `_confirmation`…) are dropped, and
 * the last remaining word, the head, decides:
 *
 * - strong: the value is a secret whatever it looks like (password, passwd, pwd, secret, token,
 *   credential, signature, hmac, apikey, *sessid, session id, api/access/secret/private… key);
 * - weak: the value is a secret when it looks like one (see values.ts `tokenLike`): auth, key, sig,
 *   session, sid, pass, pw, and code in a query string;
 * - otherwise not a secret key: `max_tokens`, `token_type`, `password_encryption`, `key_id`,
 *   `session_timeout`, `keyspace`, `auth_method` name things *about* secrets.
 */

export type KeyStrength = "strong" | "weak" | undefined;

const STRONG = new Set([
  "password",
  "passwd",
  "passwort",
  "passphrase",
  "pwd",
  "secret",
  "token",
  "credential",
  "credentials",
  "signature",
  "hmac",
  "apikey",
  "authtoken",
  "accesstoken",
  "refreshtoken",
  "sessionid",
  "sessid",
  "phpsessid",
  "jsessionid",
  "aspsessionid",
  "sessionkey",
  "requirepass",
  "masterauth",
  "authorization",
  "privatekey",
  "accountkey",
  "sharedaccesskey",
  "secretkey",
  "clientsecret",
  "csrftoken",
  "xsrftoken",
]);
const WEAK = new Set(["auth", "key", "sig", "session", "sid", "pass", "pw"]);
// Words before `key` that make it a credential (api_key, AccountKey, x-api-key); `cache_key`,
// `primary_key`, `routing_key` stay keys of the ordinary kind.
const KEY_OWNERS = new Set([
  "api",
  "access",
  "secret",
  "private",
  "account",
  "shared",
  "master",
  "encryption",
  "signing",
  "client",
  "app",
  "auth",
  "license",
  "subscription",
  "service",
  "storage",
  "session",
  "admin",
  "root",
  "hmac",
  "webhook",
  "consumer",
  "sas",
  "partner",
  "merchant",
  "deploy",
  "install",
  "registration",
  "enrollment",
]);
// Keys written as one word that end in a secret word: PGPASSWORD, MYSQL_PWD's cousins, storepass.
const ENDINGS = /.(?:password|passwd|passphrase|secret|token|sessid|sessionid|apikey|storepass|keypass)$/;

/** Values that are English words after a secret key in prose ("invalid token: expired"). */
export const STOPWORDS = new Set(
  (
    "a an the is was are be been not no for of to in on at by with from and or if it this that " +
    "expired invalid missing required incorrect wrong failed failure error mismatch rejected denied " +
    "changed updated reset ok valid accepted revoked refreshed set unset provided supplied given found " +
    "present absent expires length policy strength weak strong too must should will authentication " +
    "authorization login user username verification check checking saved stored sent received " +
    "supplied required. enabled disabled yes on off"
  ).split(" "),
);

// Trailing words that qualify the value without changing what it is.
const QUALIFIERS = new Set([
  "base",
  "value",
  "b64",
  "base64",
  "hex",
  "str",
  "string",
  "raw",
  "plain",
  "plaintext",
  "text",
  "confirm",
  "confirmation",
  "new",
  "old",
  "current",
  "repeat",
  "again",
  "enc",
  "encoded",
  "1",
  "2",
]);

/** `DB_PASSWORD` → ["db", "password"]; `AccountKey` → ["account", "key"]; `PHPSESSID` → ["phpsessid"]. */
export function keyWords(key: string): string[] {
  // camelCase boundaries (lower→Upper), then any separator.
  return key
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w.length > 0);
}

/**
 * How strongly a key name says its value is secret. `inQuery`: the key is a query-string
 * parameter, where `code` (OAuth) is also a credential.
 */
export function keyStrength(key: string, inQuery = false): KeyStrength {
  const words = keyWords(key);
  let n = words.length;
  while (n > 1 && QUALIFIERS.has(words[n - 1]!)) n--;
  if (n === 0) return undefined;
  const head = words[n - 1]!;
  const prev = n > 1 ? words[n - 2]! : "";
  if (STRONG.has(head) || ENDINGS.test(head)) return "strong";
  // The compound written as one word: "sessionid", "apikey", "secretkey" are in STRONG; "session id".
  if (head === "id") return prev === "session" || prev === "sess" ? "strong" : undefined;
  if (head === "key") return KEY_OWNERS.has(prev) ? "strong" : n === 1 ? "weak" : undefined;
  if (head === "code") return inQuery && n === 1 ? "weak" : undefined;
  if (WEAK.has(head)) {
    // A qualified pass/auth (`db_pass`, `admin_auth`) is a setting's name: strong.
    if ((head === "pass" || head === "pw") && n > 1) return "strong";
    return "weak";
  }
  return undefined;
}
