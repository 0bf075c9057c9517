// Frozen copy of core/redact as of ef5271b (before issue 10), kept only as the baseline bench/redact.bench.ts compares against.
/**
 * The redaction rules, in the order they run. Order matters: specific token formats run before
 * the generic `key=value` rule so that `api_key=sk-ant-…` reports `anthropic-key`, and every later
 * rule skips a value that is already `[REDACTED:…]` (see `isPlaceholder`), which is also what makes
 * redaction idempotent.
 *
 * Every quantifier is bounded and no rule nests a quantified group inside another one, so the
 * worst case is linear in the line length times a small constant (no catastrophic backtracking on
 * hostile lines: log lines are attacker-controlled input).
 */
import { isCardNumber } from "./card.ts";

export const REDACTION_KINDS = [
  "password",
  "url-password",
  "authorization",
  "bearer",
  "anthropic-key",
  "openai-key",
  "aws-access-key",
  "aws-secret",
  "github-token",
  "slack-token",
  "google-api-key",
  "stripe-key",
  "jwt",
  "private-key",
  "credit-card",
  "secret",
] as const;
export type RedactKind = (typeof REDACTION_KINDS)[number];

/** A rule found by one global regex. The secret is the last capture group that took part in the
 * match (rules with alternatives capture each alternative's value in its own group), or the whole
 * match when the regex has no group. Only that span is replaced; keys, schemes, hosts stay. */
export interface PatternRule {
  readonly name: string;
  readonly kind: RedactKind;
  /** Cheap pre-check (no `g` flag): must match wherever `re` can; may match more. */
  readonly gate: RegExp;
  /** Must carry the `g` and `d` flags (`d` gives the span of the secret group). */
  readonly re: RegExp;
  /** Refuse a candidate (a Luhn failure, a word after `Bearer`); the text is then left alone. */
  readonly accept?: (secret: string, m: RegExpExecArray) => boolean;
  /** The kind when it depends on the match (`password=` vs `token=`). */
  readonly kindOf?: (m: RegExpExecArray) => RedactKind;
  /** The whole match is the secret even though the regex has groups (back-references). */
  readonly whole?: boolean;
}

/** A rule that is clearer as code than as one regex (private key blocks span lines). */
export interface CustomRule {
  readonly name: string;
  readonly kind: RedactKind;
  readonly gate: RegExp;
  readonly apply: (text: string, hit: (kind: RedactKind) => void) => string;
}

export type Rule = PatternRule | CustomRule;

export function redacted(kind: RedactKind): string {
  return `[REDACTED:${kind}]`;
}

// Values that are not secrets: earlier redactions, masks, placeholders, template references,
// and literals. Skipping them keeps redaction idempotent and ordinary config dumps byte-identical.
const PLACEHOLDER =
  /^(?:\[REDACTED:|\*+$|<[^<>\n]{0,64}>$|\$\{[^{}\n]{0,64}\}$|%[sr]$|\?$|(?:null|none|nil|undefined|true|false)$)/i;
export function isPlaceholder(value: string): boolean {
  return PLACEHOLDER.test(value);
}

// Three value shapes after a key: "double" (also \"escaped\" inside JSON strings, may hold
// spaces), 'single', or bare up to whitespace or a delimiter of query strings and lists.
const VALUE = String.raw`(?:\\?"((?:[^"\\\n]|\\(?!")){1,512})|'([^'\n]{1,512})|([^\s"'&,;\\]{1,512}))`;
const SEP = String.raw`\\?["']?[ \t]{0,3}(?::=|=>|[:=])[ \t]{0,3}`;
const QUOTED_OR_BARE = String.raw`(?:"([^"\n]{1,512})"|'([^'\n]{1,512})'|([^\s"']{1,512}))`;

const privateKey: CustomRule = {
  name: "private-key block",
  kind: "private-key",
  gate: /-----BEGIN/,
  apply(text, hit) {
    // Whole block becomes one marker, so a second pass finds no BEGIN line; a BEGIN without END
    // (a truncated record) is redacted to the end of the text rather than leaking the body.
    const begin = /-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----/g;
    const end = /-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----/g;
    let out = "";
    let last = 0;
    for (let m = begin.exec(text); m !== null; m = begin.exec(text)) {
      end.lastIndex = begin.lastIndex;
      const e = end.exec(text);
      const stop = e === null ? text.length : end.lastIndex;
      out += text.slice(last, m.index) + redacted("private-key");
      hit("private-key");
      last = stop;
      begin.lastIndex = stop;
    }
    return last === 0 ? text : out + text.slice(last);
  },
};

const passwordKey = /^(?:pass|pwd)/i;

export const RULES: readonly Rule[] = [
  privateKey,
  {
    name: "Anthropic API key",
    kind: "anthropic-key",
    gate: /sk-ant-/,
    re: /(?<![A-Za-z0-9_-])sk-ant-[A-Za-z0-9_-]{16,256}/dg,
  },
  {
    name: "OpenAI API key",
    kind: "openai-key",
    gate: /sk-/,
    re: /(?<![A-Za-z0-9_-])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,256}/dg,
    // Random keys always hold digits; hyphenated identifiers that happen to start with sk- do not.
    accept: (s) => /\d/.test(s),
  },
  {
    name: "GitHub token",
    kind: "github-token",
    gate: /gh[pousr]_|github_pat_/,
    re: /(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{22,255})/dg,
  },
  {
    name: "Slack token",
    kind: "slack-token",
    gate: /xox[abposr]-|xapp-/,
    re: /(?<![A-Za-z0-9-])(?:xox[abposr]|xapp)-[A-Za-z0-9-]{10,255}/dg,
  },
  {
    name: "Slack webhook URL",
    kind: "slack-token",
    gate: /hooks\.slack\.com\//,
    re: /hooks\.slack\.com\/(?:services|workflows|triggers)\/([A-Za-z0-9/_-]{8,255})/dg,
  },
  {
    name: "Google API key",
    kind: "google-api-key",
    gate: /AIza/,
    re: /(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}/dg,
  },
  {
    name: "Stripe secret or restricted key",
    kind: "stripe-key",
    gate: /[sr]k_(?:live|test)_/,
    re: /(?<![A-Za-z0-9_])[sr]k_(?:live|test)_[0-9A-Za-z]{10,255}/dg,
  },
  {
    name: "AWS access key id",
    kind: "aws-access-key",
    gate: /AKIA|ASIA/,
    re: /(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])/dg,
  },
  {
    name: "JSON Web Token",
    kind: "jwt",
    gate: /eyJ/,
    re: /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,4096}\.[A-Za-z0-9_-]{2,8192}\.[A-Za-z0-9_-]{0,4096}/dg,
  },
  {
    // Before the generic key=value rule, so that the kind says which secret it was.
    name: "AWS secret access key (labelled)",
    kind: "aws-secret",
    gate: /secret[_-]?access|aws[_-]?secret/i,
    re: new RegExp(
      "(?:aws[_-]?secret[_-]?(?:access[_-]?)?key|secret[_-]?access[_-]?key)" +
        SEP +
        String.raw`\\?["']?([A-Za-z0-9/+=]{16,128})`,
      "dgi",
    ),
  },
  {
    // scheme://user:password@host — only the password goes. Greedy up to the LAST '@' before the
    // path, because unencoded '@' in passwords is common in hand-written DSNs.
    name: "password in URL or DSN",
    kind: "url-password",
    gate: /:\/\/[^\s/]{0,400}@/,
    re: /:\/\/[^\s:/@]{0,128}:([^\s/]{1,256})@/dg,
  },
  {
    name: "Authorization header",
    kind: "authorization",
    gate: /authoriz/i,
    re: new RegExp(
      "authorization" +
        SEP +
        String.raw`\\?["']?(?:(basic|bearer|token|digest|negotiate|ntlm|apikey|key|aws4-hmac-sha256)[ \t]{1,3})?([^\s"'\\,]{1,4096})`,
      "dgi",
    ),
    // Without a scheme group the engine may have backtracked into taking the scheme word itself
    // as the credential (e.g. `Basic [REDACTED:…]`): that is not a credential.
    accept: (s, m) => m[1] !== undefined || !/^(?:basic|bearer|token|digest|negotiate|ntlm)$/i.test(s),
  },
  {
    name: "bare Bearer token",
    kind: "bearer",
    gate: /[Bb]earer|BEARER/,
    re: /(?<![A-Za-z])(?:Bearer|bearer|BEARER)[ \t]{1,3}([A-Za-z0-9._~+/=-]{8,4096})/dg,
    // English prose ("Bearer authentication failed") has no digits; random tokens practically always do.
    accept: (s) => /\d/.test(s),
  },
  {
    name: "command-line secret flag",
    kind: "password",
    gate: /--(?:pass|token|secret|api|access|auth|client)/i,
    re: new RegExp(
      String.raw`(?<![\w-])--(pass(?:word|wd|phrase)?|token|secret|api-?key|access-token|auth-token|client-secret)(?:=|[ \t]{1,3})(?!-)` +
        QUOTED_OR_BARE,
      "dgi",
    ),
    kindOf: (m) => (passwordKey.test(m[1]!) ? "password" : "secret"),
  },
  {
    // mysql takes the password glued to -p (`-psecret`); a spaced `-p 3306` elsewhere is a port,
    // so only these clients count.
    name: "mysql -p<password>",
    kind: "password",
    gate: /mysql|mariadb/,
    re: /\b(?:mysql|mysqldump|mysqladmin|mysqlimport|mysqlcheck|mariadb|mariadb-dump)\b[^\n]{0,256}?[ \t]-p(?:'([^'\n]{1,256})'|"([^"\n]{1,256})"|([^\s'"]{1,256}))/dg,
  },
  {
    name: "sshpass -p / redis-cli -a",
    kind: "password",
    gate: /sshpass|redis-cli/,
    re: /\b(?:sshpass[ \t]{1,3}-p|redis-cli\b[^\n]{0,256}?[ \t]-a)[ \t]{0,3}(?:'([^'\n]{1,256})'|"([^"\n]{1,256})"|([^\s'"]{1,256}))/dg,
  },
  {
    // curl -u user:password / --user user:password: the user stays, the password goes.
    name: "curl -u user:password",
    kind: "password",
    gate: /curl/,
    re: /\bcurl\b[^\n]{0,256}?[ \t](?:-u|--user)[ \t]{1,3}['"]?[^\s:'"]{1,128}:([^\s'"]{1,256})/dg,
  },
  {
    // key=value, key: value, "key": "value", key='value', env dumps (DB_PASSWORD=…), conninfo.
    // The key is recognised by how it ENDS (…password, …token, …api_key) so that prefixes such as
    // PG, DB_, client_, x-api- match while `max_tokens` or `password_encryption` do not.
    name: "secret key=value pair",
    kind: "secret",
    // Every key the rule accepts ends in one of these words and is followed by a separator.
    gate: /(?:pass(?:w(?:or)?d|phrase)?|pwd|secret|token|key|confirm(?:ation)?)\\?["']?[ \t]{0,3}[:=]/i,
    re: new RegExp(
      "(passw(?:or)?d|passphrase|(?<![a-z])pass|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key)" +
        "(?:[_-](?:access[_-])?key|[_-]?confirm(?:ation)?)?(?![a-z0-9])" +
        SEP +
        VALUE,
      "dgi",
    ),
    kindOf: (m) => (passwordKey.test(m[1]!) ? "password" : "secret"),
    // PWD/OLDPWD in environment dumps are working directories, not passwords.
    accept: (s, m) => !(m[1]!.toLowerCase() === "pwd" && s.startsWith("/")),
  },
  {
    // SQL statements as logged by PostgreSQL/MySQL: ALTER ROLE x PASSWORD '…', IDENTIFIED BY '…'.
    name: "SQL password literal",
    kind: "password",
    gate: /password[ \t]{1,3}'|identified[ \t]{1,3}by/i,
    re: /\b(?:password|identified[ \t]{1,3}by)[ \t]{1,3}'((?:[^'\n]|''){1,512})'/dgi,
  },
  {
    // Redis MONITOR/slowlog show `"AUTH" "pw"` or `"AUTH" "user" "pw"`; the secret is the last argument.
    name: "Redis AUTH / requirepass",
    kind: "password",
    gate: /AUTH[" \t]|requirepass|masterauth/,
    re: /(?:"AUTH"[ \t]{1,3}"([^"\n]{1,256})"(?:[ \t]{1,3}"([^"\n]{1,256})")?|(?:^|>[ \t]{0,2})AUTH[ \t]{1,3}([^\s"]{1,256})(?:[ \t]{1,3}([^\s"]{1,256}))?[ \t]*$|\b(?:requirepass|masterauth)[ \t]{1,3}(?:"([^"\n]{1,256})"|([^\s"]{1,256})))/dgm,
  },
  {
    // Grouped 4-4-4-4(-3) or Amex/Diners 4-6-4/5 with one consistent separator, or 13-19 bare digits;
    // never glued to letters, decimals or dashes, so ids, floats and dates do not qualify.
    name: "payment card number",
    kind: "credit-card",
    // Looser than the rule (no look-behind, any first digit): look-behinds make the pre-check
    // several times slower, and the rule itself rejects the extra candidates.
    gate: /\d{13}|\d{4}[ -]\d{4}[ -]\d{4}|\d{4}[ -]\d{6}[ -]\d{4}/,
    re: /(?<![\w.+-])(?:\d{4}([ -])\d{4}\1\d{4}\1\d{4}(?:\1\d{3})?|\d{4}([ -])\d{6}\2\d{4,5}|\d{13,19})(?![\w]|[.-]\d)/dg,
    whole: true,
    accept: (s) => isCardNumber(s.replace(/[ -]/g, "")),
  },
];
