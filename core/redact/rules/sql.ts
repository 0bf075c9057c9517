/**
 * Passwords in SQL as servers and ORMs log statements: PostgreSQL's `PASSWORD '…'`, `E'…'`,
 * `$$…$$` and `$tag$…$tag$` literals (ALTER/CREATE ROLE/USER, USER MAPPING OPTIONS), MySQL's
 * `IDENTIFIED [WITH plugin] BY '…'` and `PASSWORD('…')`. `PASSWORD NULL` is no secret.
 */
import type { Rule } from "../types.ts";
import { isPlaceholder } from "../types.ts";
import { dollarQuoted, quoted } from "../values.ts";

const KEYWORD =
  /(?<!['"\w])(?:password|identified(?:[ \t]+with[ \t]+[A-Za-z0-9_]{1,64})?[ \t]+(?:by|as))(?:[ \t]*=)?[ \t]*\(?[ \t]*(?=[Ee]?'|\$)/gi;

export const sqlPassword: Rule = {
  name: "SQL password literal",
  gate: /password|identified/i,
  find(text, report) {
    KEYWORD.lastIndex = 0;
    for (let m = KEYWORD.exec(text); m !== null; m = KEYWORD.exec(text)) {
      let i = m.index + m[0].length;
      if (text[i] === "E" || text[i] === "e") i++;
      const v = text[i] === "$" ? dollarQuoted(text, i) : quoted(text, i);
      if (!v || isPlaceholder(text.slice(v.start, v.end))) continue;
      report(v.start, v.end, "password");
      KEYWORD.lastIndex = v.end;
    }
  },
  examples: [
    [
      "LOG:  statement: ALTER ROLE app PASSWORD 'Harbor3596';",
      "LOG:  statement: ALTER ROLE app PASSWORD '[REDACTED:password]';",
    ],
    ["CREATE ROLE r LOGIN PASSWORD E'Orc\\'hid5';", "CREATE ROLE r LOGIN PASSWORD E'[REDACTED:password]';"],
    ["ALTER ROLE r PASSWORD $$Lan'tern1$$;", "ALTER ROLE r PASSWORD $$[REDACTED:password]$$;"],
    [
      "CREATE USER u WITH ENCRYPTED PASSWORD $pw$x1y2$pw$;",
      "CREATE USER u WITH ENCRYPTED PASSWORD $pw$[REDACTED:password]$pw$;",
    ],
    ["CREATE ROLE \"R\" PASSWORD 'a''b1';", "CREATE ROLE \"R\" PASSWORD '[REDACTED:password]';"],
    [
      "CREATE USER 'app'@'%' IDENTIFIED BY 'Velvet9185'",
      "CREATE USER 'app'@'%' IDENTIFIED BY '[REDACTED:password]'",
    ],
    [
      "ALTER USER 'a'@'h' IDENTIFIED WITH caching_sha2_password BY 'x9'",
      "ALTER USER 'a'@'h' IDENTIFIED WITH caching_sha2_password BY '[REDACTED:password]'",
    ],
    ["SET PASSWORD FOR bob = PASSWORD('Cop9er')", "SET PASSWORD FOR bob = PASSWORD('[REDACTED:password]')"],
    ["OPTIONS (user 'etl', password 'Fal9con')", "OPTIONS (user 'etl', password '[REDACTED:password]')"],
  ],
  counterExamples: [
    "LOG:  statement: ALTER ROLE app_rw PASSWORD NULL;",
    "SELECT name FROM pg_settings WHERE name IN ('authentication_timeout', 'password_encryption');",
    'FATAL:  password authentication failed for user "mcpmon"',
  ],
};
