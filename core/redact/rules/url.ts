/**
 * Passwords in URLs and DSNs, and one-time tokens in URL paths. A URL's password may hold `/`, `@`,
 * `:` and `%xx` (hand-written DSNs rarely encode them): the host is what follows the last `@` of
 * the URL that is followed by a host name, so `postgresql://u:ab/cd@host` and
 * `amqp://guest:p@ss@rabbit/` both lose the whole password. URL-encoded URLs (a redirect target in a
 * query string) and Go's `user:pass@tcp(host)/db` DSNs are read too.
 */
import type { Rule } from "../types.ts";
import { isPlaceholder, type Report } from "../types.ts";
import { tokenLike } from "../values.ts";

const USER_END = /[\s:/@?#"'<>\\]/;
const HOST = /^(?:[A-Za-z0-9_-][A-Za-z0-9_.-]{0,253}|\[[0-9A-Fa-f:.]{2,45}\])(?=$|[:/?#\s"'<>),;\]\\])/;

function findUrlPasswords(text: string, report: Report): void {
  for (let at = text.indexOf("://"); at >= 0; at = text.indexOf("://", at + 3)) {
    let i = at + 3;
    const userStart = i;
    while (i < text.length && i - userStart <= 128 && !USER_END.test(text[i]!)) i++;
    if (text[i] !== ":") continue;
    const pwStart = i + 1;
    let end = pwStart;
    while (end < text.length && end - pwStart < 512 && !/[\s"'<>\\]/.test(text[end]!)) end++;
    // The last '@' in the URL that a host name follows.
    let host = -1;
    for (let j = text.lastIndexOf("@", end - 1); j >= pwStart; j = text.lastIndexOf("@", j - 1)) {
      if (HOST.test(text.slice(j + 1, j + 300))) {
        host = j;
        break;
      }
      if (j === 0) break;
    }
    if (host <= pwStart) continue;
    const pw = text.slice(pwStart, host);
    // `http://host:8080/a@b`: what looked like a user was the host, and the "password" a port.
    if (/^\d{1,5}(?:\/|$)/.test(pw) || isPlaceholder(pw)) continue;
    report(pwStart, host, "url-password");
    at = host;
  }
}

const ENCODED = /%3A%2F%2F[^\s%&:/@]{0,128}%3A([^\s&"']{1,512})%40[A-Za-z0-9]/dgi;
const GO_DSN = /(?<![\w.-])[\w.-]{1,64}:([^\s@"']{1,256})@(?:tcp|unix)\(/dg;

export const urlPassword: Rule = {
  name: "password in URL or DSN",
  group: "protocols",
  gate: /:\/\/|%3A%2F%2F|@(?:tcp|unix)\(/i,
  find(text, report) {
    if (text.includes("://")) findUrlPasswords(text, report);
    for (const re of [ENCODED, GO_DSN]) {
      re.lastIndex = 0;
      for (let m = re.exec(text); m !== null; m = re.exec(text)) {
        const [start, end] = m.indices![1]!;
        if (!isPlaceholder(m[1]!)) report(start, end, "url-password");
      }
    }
  },
  examples: [
    ["postgres://odoo:hunter2@db:5432/odoo", "postgres://odoo:[REDACTED:url-password]@db:5432/odoo"],
    ["postgresql://u:ab/cd@host/db", "postgresql://u:[REDACTED:url-password]@host/db"],
    ["redis://:pa/ss@cache:6379/0", "redis://:[REDACTED:url-password]@cache:6379/0"],
    ["amqp://guest:p@ss@rabbit:5672/", "amqp://guest:[REDACTED:url-password]@rabbit:5672/"],
    ["amqps://w:Ab1%3Ax@mq.internal/vh", "amqps://w:[REDACTED:url-password]@mq.internal/vh"],
    [
      "target=https%3A%2F%2Fu%3AeUW0J%2FdUNk%40hooks.internal%2Fx",
      "target=https%3A%2F%2Fu%3A[REDACTED:url-password]%40hooks.internal%2Fx",
    ],
    [
      "u=ftp%3A%2F%2Fd%3Asd9C%40R5Iv%40files.internal%2Fpub",
      "u=ftp%3A%2F%2Fd%3A[REDACTED:url-password]%40files.internal%2Fpub",
    ],
    ["dsn root:s3cr3t@tcp(127.0.0.1:3306)/shop", "dsn root:[REDACTED:url-password]@tcp(127.0.0.1:3306)/shop"],
  ],
  counterExamples: [
    "git clone ssh://git@github.com/org/repo.git",
    "redirect to https://alice@example.com/profile",
    "GET http://127.0.0.1:8069/web@assets/x.js",
    "listening on http://[::1]:9090/metrics",
    "url=postgres://u:[REDACTED:url-password]@db/x",
    "see https://example.com/users/bob:x (mail bob@example.com)",
  ],
};

const ONE_TIME =
  /\/(?:reset|reset[-_]password|password[-_]reset|magic|magic[-_]link|magic[-_]login|verify|verify[-_]email|confirm|confirmation|activate|activation|invite|invitation|unsubscribe|passwordless|login[-_]token|otp)\/(?:[A-Za-z0-9]{1,8}\/)?([A-Za-z0-9_.~-]{16,512})(?=$|[/?#\s"'])/gi;

export const pathToken: Rule = {
  name: "one-time token in a URL path",
  gate: /\/(?:reset|password|magic|verify|confirm|activat|invit|unsubscribe|login|otp)/i,
  find(text, report) {
    ONE_TIME.lastIndex = 0;
    for (let m = ONE_TIME.exec(text); m !== null; m = ONE_TIME.exec(text)) {
      const t = m[1]!;
      if (tokenLike(t)) report(m.index + m[0].length - t.length, m.index + m[0].length, "secret");
    }
  },
  examples: [
    ["GET /password/reset/E4UyDxWjsyzvA41ogh2v HTTP/1.1", "GET /password/reset/[REDACTED:secret] HTTP/1.1"],
    ["GET /auth/magic-link/Xk29fLq0PzR7mWc3vNb8 HTTP/1.1", "GET /auth/magic-link/[REDACTED:secret] HTTP/1.1"],
    ["GET /accounts/reset/MQ/c2b-8f1e2d3c4b5a69788766/", "GET /accounts/reset/MQ/[REDACTED:secret]/"],
  ],
  counterExamples: [
    "GET /api/v1/verify/orders HTTP/1.1",
    "GET /password/reset/ HTTP/1.1",
    "POST /confirm/checkout-summary-page",
  ],
};
