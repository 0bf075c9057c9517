/**
 * Redis commands as MONITOR, client libraries' debug logs (ioredis: `auth([ 'user', 'pw' ])`),
 * redis-cli sessions and config dumps write them: the arguments after the command are read as a
 * list (quoted "…", '…' or bare, separated by spaces, commas, brackets), and the command's own
 * grammar says which is the secret: AUTH [user] pw, HELLO … AUTH user pw, MIGRATE … AUTH pw /
 * AUTH2 user pw, CONFIG SET requirepass|masterauth pw, ACL SETUSER … >pw <pw #hash, and the
 * `requirepass pw` / `masterauth pw` directives.
 */
import type { Report, Rule } from "../types.ts";
import { isPlaceholder } from "../types.ts";

interface Arg {
  start: number;
  end: number;
  quoted: boolean;
}

const COMMAND =
  /(?<![A-Za-z0-9_-])["']?(auth2?|hello|migrate|config|acl|requirepass|masterauth)["']?(?:\(\[|(?=[ \t]))/gi;
const MAX_ARGS = 64;

/** The arguments after `i`, up to the end of the line or of a `([ … ])` list. */
function args(text: string, i: number): { list: Arg[]; eol: boolean } {
  const list: Arg[] = [];
  while (list.length < MAX_ARGS) {
    while (i < text.length && /[ \t,[]/.test(text[i]!) && !text.startsWith("[REDACTED:", i)) i++;
    const c = text[i];
    if (c === undefined || c === "\n" || c === "\r" || c === "]" || c === ")") break;
    if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < text.length && text[j] !== c && text[j] !== "\n") j += text[j] === "\\" ? 2 : 1;
      if (text[j] !== c) break;
      list.push({ start: i + 1, end: j, quoted: true });
      i = j + 1;
    } else {
      let j = i;
      // An earlier redaction is one argument, brackets included (idempotence).
      if (text.startsWith("[REDACTED:", i)) j = text.indexOf("]", i) + 1;
      while (j < text.length && !/[\s,\]"']/.test(text[j]!)) j++;
      list.push({ start: i, end: j, quoted: false });
      i = j;
    }
  }
  const rest = text.slice(i, i + 2);
  return { list, eol: i >= text.length || rest[0] === "\n" || rest[0] === "\r" || rest.startsWith("]") };
}

function secretArgs(name: string, list: Arg[], text: string, eol: boolean): Arg[] {
  const word = (a: Arg | undefined) => (a ? text.slice(a.start, a.end).toLowerCase() : "");
  const quotedForm = list.length > 0 && list.every((a) => a.quoted);
  switch (name) {
    case "auth":
      // `AUTH pw` / `AUTH user pw` as a command (quoted, or alone up to the end of the line), not prose.
      return (list.length === 1 || list.length === 2) && (quotedForm || eol) ? [list[list.length - 1]!] : [];
    case "hello": {
      const at = list.findIndex((a) => word(a) === "auth");
      return at >= 0 && list[at + 2] ? [list[at + 2]!] : [];
    }
    case "migrate": {
      const out: Arg[] = [];
      list.forEach((a, i) => {
        if (word(a) === "auth" && list[i + 1]) out.push(list[i + 1]!);
        if (word(a) === "auth2" && list[i + 2]) out.push(list[i + 2]!);
      });
      return out;
    }
    case "config":
      if (word(list[0]) !== "set") return [];
      return list.filter(
        (_, i) =>
          i % 2 === 0 &&
          i > 0 &&
          /^(?:requirepass|masterauth|tls-key-file-pass|tls-client-key-file-pass)$/.test(word(list[i - 1])),
      );
    case "acl":
      return word(list[0]) === "setuser"
        ? list.filter((a) => /^[<>#!]./.test(text.slice(a.start, a.end)))
        : [];
    default:
      // requirepass / masterauth directive: exactly one value.
      return list.length === 1 && (quotedForm || eol) ? [list[0]!] : [];
  }
}

function find(text: string, report: Report): void {
  COMMAND.lastIndex = 0;
  for (let m = COMMAND.exec(text); m !== null; m = COMMAND.exec(text)) {
    const name = m[1]!.toLowerCase();
    // Unquoted and not an argument list: a command only at the start of a line or after a prompt
    // (`127.0.0.1:6379> AUTH pw`), not in prose ("JSchException: Auth fail [preauth]").
    const form = m[0];
    const directive = name === "requirepass" || name === "masterauth";
    if (
      !directive &&
      !/^["']|\(\[$/.test(form) &&
      !/(?:^|\n|>)[ \t]*$/.test(text.slice(Math.max(0, m.index - 64), m.index))
    )
      continue;
    const { list, eol } = args(text, m.index + m[0].length);
    for (const a of secretArgs(name === "auth2" ? "auth" : name, list, text, eol)) {
      let start = a.start;
      const v = text.slice(start, a.end);
      if (name === "acl" && /^[<>#!]/.test(v)) start++;
      if (isPlaceholder(text.slice(start, a.end))) continue;
      report(start, a.end, "password");
    }
  }
}

export const redisCommand: Rule = {
  name: "Redis command with a password",
  gate: /auth|hello|migrate|config|acl|requirepass/i,
  find,
  examples: [
    [
      '1796.4 [0 127.0.0.1:35078] "auth" "Copper9374"',
      '1796.4 [0 127.0.0.1:35078] "auth" "[REDACTED:password]"',
    ],
    ['"AUTH" "default" "Copper9374"', '"AUTH" "default" "[REDACTED:password]"'],
    [
      '"MIGRATE" "127.0.0.1" "1" "" "0" "100" "KEYS" "k1" "AUTH" "Velvet8514"',
      '"MIGRATE" "127.0.0.1" "1" "" "0" "100" "KEYS" "k1" "AUTH" "[REDACTED:password]"',
    ],
    [
      "0 -> MIGRATE([ '127.0.0.1', '1', '', '0', '100', 'AUTH2', 'default', 'Vel9et', 'KEYS', 'k2' ])",
      "0 -> MIGRATE([ '127.0.0.1', '1', '', '0', '100', 'AUTH2', 'default', '[REDACTED:password]', 'KEYS', 'k2' ])",
    ],
    ["0 -> auth([ 'default', 'Copper4958' ])", "0 -> auth([ 'default', '[REDACTED:password]' ])"],
    [
      "0 -> hello([ '3', 'AUTH', 'default', 'Orchid3193' ])",
      "0 -> hello([ '3', 'AUTH', 'default', '[REDACTED:password]' ])",
    ],
    [
      "0 -> CONFIG([ 'SET', 'masterauth', 'Harbor6393' ])",
      "0 -> CONFIG([ 'SET', 'masterauth', '[REDACTED:password]' ])",
    ],
    [
      "127.0.0.1:6379> config set requirepass Falcon12",
      "127.0.0.1:6379> config set requirepass [REDACTED:password]",
    ],
    [
      "ACL SETUSER reporter on >Copper0677 ~reports:* +get",
      "ACL SETUSER reporter on >[REDACTED:password] ~reports:* +get",
    ],
    ["127.0.0.1:6379> AUTH s3cret-pw", "127.0.0.1:6379> AUTH [REDACTED:password]"],
    ["requirepass foobared99", "requirepass [REDACTED:password]"],
  ],
  counterExamples: [
    '1796415150.130658 [0 127.0.0.1:35078] "AUTH" "(redacted)"',
    "AUTH failed: WRONGPASS invalid username-password pair or user is disabled.",
    "-ERR AUTH <password> called without any password configured for the default user.",
    "NOAUTH Authentication required.",
    "0 -> hello([ '3', 'SETNAME', 'worker-1' ])",
    "config file /etc/redis/redis.conf loaded",
    "ACL LOG 10",
    "com.jcraft.jsch.JSchException: Auth fail [preauth]",
  ],
};
