import { posix } from "node:path";

/**
 * Files that look protected on purpose. A permission-denied line in a web server's log is written
 * for ANY path an anonymous client asks for, so "nginx could not read it" proves nothing about
 * whether it should be readable: `/.env`, `.git/config`, `*.key` and SQL dumps are 600 because
 * someone made them so. The policy checker refuses a chmod/chown of such a name (early, with a
 * reason an operator can read), and the host helper refuses it again on the real path of the
 * opened object, together with files whose first bytes hold a credential.
 *
 * The sources below are shared with the Perl helper (hostops.ts passes them in @ARGV), so they use
 * only syntax that means the same in JavaScript and Perl, and are applied case-insensitively.
 */

/** One path segment (a file or folder name) that looks protected on purpose. */
export const PROTECTED_NAME = [
  // Dot files and dot folders: .env, .git, .htpasswd, .ssh, .aws, .svn, .DS_Store …
  "^[.]",
  // Keys, certificates and keystores.
  "[.](key|pem|crt|cer|der|csr|p12|pfx|jks|keystore|kdbx|gpg|pgp|asc|ppk)$",
  "^id_(rsa|dsa|ecdsa|ed25519)",
  // Dumps, databases, backups and editor leftovers.
  "[.](sql|dump|sqlite|sqlite3|db|mdb|bak|backup|old|orig|save|swp|swo|tmp)$",
  "[.](sql|dump|tar)[.](gz|bz2|xz|zst|zip)$",
  "~$",
  // Environment and credential files by name.
  "[.]env$",
  "^env[.]",
  "htpasswd|htaccess|passwd|shadow",
  "^(wp-config|config|configuration|settings|local[.]settings|database|secrets?|credentials?)[.](php|inc|ya?ml|json|xml|ini|py|rb)$",
  "secret|credential|private|backup|dump",
].join("|");

/**
 * What a credential looks like in a file's first 64 KiB: a private key block, a PuTTY key, an AWS
 * access key id, or a secret-named key followed by a value (`DB_PASSWORD=…`, `"api_key": "…"`,
 * `define('DB_PASSWORD', '…')`). A label such as `Password:</label>` is not a value.
 */
export const CREDENTIAL_CONTENT = [
  "-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----",
  "PuTTY-User-Key-File",
  "AKIA[0-9A-Z]{16}",
  "(pass(word|wd)?|pwd|secret|api[_-]?key|access[_-]?key|private[_-]?key|auth[_-]?token|client[_-]?secret)['\"]?[ \\t]*(=>|=|:|,)[ \\t]*['\"]?[^ \\t\\r\\n'\"<>]{3,}",
].join("|");

const NAME_RE = new RegExp(PROTECTED_NAME, "i");

/** Words for `mcpmon policy check` and the README: what "protected on purpose" means. */
export const PROTECTED_WORDS =
  "a dot file or folder on the way (.env, .git/, .htpasswd), a key, certificate or keystore (*.key, *.pem, *.p12, id_rsa), a dump, database, backup or editor copy (*.sql, *.sql.gz, *.db, *.bak, *~), an env or credentials file (wp-config.php, secrets.yml), a name with secret, credential, private, backup or dump in it, or a file whose first 64 KiB hold a credential (a private key, an AWS key id, password=…)";

/**
 * Why `path` looks protected on purpose, naming the segment, or null. Only the segments below the
 * root it is under are looked at: a web root such as `/srv/.sites/www` is the operator's choice.
 */
export function protectedNameReason(path: string, roots: string[]): string | null {
  const normal = posix.normalize(path).replace(/\/+$/, "");
  const root = roots
    .map((r) => posix.normalize(r).replace(/\/+$/, ""))
    .filter((r) => normal.startsWith(`${r}/`))
    .sort((a, b) => b.length - a.length)[0];
  const below = root === undefined ? normal : normal.slice(root.length + 1);
  for (const segment of below.split("/").filter(Boolean))
    if (NAME_RE.test(segment))
      return `"${path}" looks protected on purpose ("${segment}" is ${describeSegment(segment)}); a human decides whether it should be readable`;
  return null;
}

function describeSegment(segment: string): string {
  if (segment.startsWith(".")) return "a dot file or folder";
  return "a key, dump, backup, env or credentials name";
}
