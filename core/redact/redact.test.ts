import { describe, expect, test } from "bun:test";
import { isCardNumber, luhn, mayContainSecret, REDACTION_KINDS, RULES, redact } from "./index.ts";
import { ORDINARY_LINES, SECRET_LINES } from "./testdata/corpus.ts";

// Test names are the line's start, on one line; the fake secrets in them are harmless by design.
const name = (l: string) => l.replaceAll("\n", "⏎").slice(0, 70);

describe("secret corpus", () => {
  test("is big enough to mean something", () => {
    expect(SECRET_LINES.length).toBeGreaterThanOrEqual(60);
    expect(ORDINARY_LINES.length).toBeGreaterThanOrEqual(40);
  });

  test.each(SECRET_LINES.map((c) => [name(c.line), c] as const))("%s", (_, c) => {
    const r = redact(c.line);
    for (const secret of c.secrets) expect(r.text).not.toContain(secret);
    expect([...r.kinds].sort()).toEqual([...c.kinds].sort());
    expect(r.count).toBeGreaterThanOrEqual(c.kinds.length);
    // Idempotent: a second pass (the analyzer re-redacts what the collector sent) changes nothing.
    expect(redact(r.text)).toMatchObject({ text: r.text, count: 0, kinds: [] });
  });

  test("every kind is exercised by the corpus or a rule's examples", () => {
    const seen = new Set<string>(SECRET_LINES.flatMap((c) => c.kinds));
    for (const r of RULES) for (const [input] of r.examples) for (const k of redact(input).kinds) seen.add(k);
    for (const kind of REDACTION_KINDS) expect(seen).toContain(kind);
  });
});

describe("ordinary lines", () => {
  test.each(ORDINARY_LINES.map((l) => [name(l), l] as const))("%s", (_, l) => {
    const r = redact(l);
    expect(r.text).toBe(l);
    expect(r.count).toBe(0);
  });

  test("a line without any trigger is returned as the same string", () => {
    const l = "GET /health 200 0.001";
    expect(mayContainSecret(l)).toBe(false);
    expect(redact(l).text).toBe(l);
  });
});

describe("what is kept", () => {
  test("URL keeps scheme, user, host, port and path; only the password goes", () => {
    expect(redact("postgres://odoo:hunter2@db.internal:5432/prod?sslmode=require").text).toBe(
      "postgres://odoo:[REDACTED:url-password]@db.internal:5432/prod?sslmode=require",
    );
    expect(redact("redis://:s3cret@cache:6379/0").text).toBe("redis://:[REDACTED:url-password]@cache:6379/0");
    // An unencoded '@' inside the password: the host is what follows the last '@'.
    expect(redact("amqp://guest:p@ss@rabbit:5672/").text).toBe(
      "amqp://guest:[REDACTED:url-password]@rabbit:5672/",
    );
  });

  test("key=value keeps the key and its quotes", () => {
    expect(redact(`{"password": "correct horse battery staple", "user": "bob"}`).text).toBe(
      `{"password": "[REDACTED:password]", "user": "bob"}`,
    );
    expect(redact("user=bob password='a b' dbname=x").text).toBe(
      "user=bob password='[REDACTED:password]' dbname=x",
    );
    expect(redact("GET /x?token=abc123&page=2").text).toBe("GET /x?token=[REDACTED:secret]&page=2");
  });

  test("Authorization keeps the scheme word", () => {
    expect(redact("Authorization: Basic dXNlcjpwYXNz").text).toBe(
      "Authorization: Basic [REDACTED:authorization]",
    );
  });

  test("counts every replacement and lists each kind once", () => {
    const r = redact("password=a1 password=b2 token=c3");
    expect(r.count).toBe(3);
    expect(r.kinds).toEqual(["password", "secret"]);
  });

  test("a truncated private key is redacted to the end of the record", () => {
    const r = redact("key:\n-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBbb\nAoGCCqGSM49");
    expect(r.text).toBe("key:\n[REDACTED:private-key]");
  });

  test("placeholders and references are not secrets", () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal ${VAR} reference is the point of the test
    for (const l of ["password=***", "password=<hidden>", "password=${DB_PASSWORD}", '"password": null']) {
      expect(redact(l).text).toBe(l);
    }
  });
});

describe("cards", () => {
  test("Luhn", () => {
    expect(luhn("4111111111111111")).toBe(true);
    expect(luhn("4111111111111112")).toBe(false);
  });
  test("issuer prefix and length filter ids that happen to pass Luhn", () => {
    expect(isCardNumber("4111111111111111")).toBe(true);
    expect(isCardNumber("378282246310005")).toBe(true);
    // 13-digit epoch milliseconds passing Luhn: no network issues cards starting with 1.
    expect(luhn("1715682151123")).toBe(true);
    expect(isCardNumber("1715682151123")).toBe(false);
    expect(redact("ts=1715682151123").text).toBe("ts=1715682151123");
  });
});

describe("hostile input", () => {
  // Finishing at all is the assertion: a catastrophic pattern would hang here for minutes.
  const MB = 1 << 20;
  test("1 MB of one letter", () => {
    const l = "a".repeat(MB);
    expect(redact(l).text).toBe(l);
  });
  test("1 MB of password= repeated", () => {
    const r = redact("password=".repeat(MB / 9));
    expect(r.count).toBeGreaterThan(0);
    expect(redact(r.text).count).toBe(0);
  });
  test("1 MB of digits and of separators", () => {
    expect(redact("4".repeat(MB)).count).toBe(0);
    expect(redact("4111 ".repeat(MB / 5)).count).toBe(0);
  });
  test("1 MB of near-misses for URL, JWT and Authorization", () => {
    redact("x://a:".repeat(MB / 6));
    redact("eyJaaaaaaaaaa.".repeat(MB / 14));
    redact("Authorization: ".repeat(MB / 15));
    redact("mysql -x ".repeat(MB / 9));
  });
});
