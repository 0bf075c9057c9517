import { describe, expect, test } from "bun:test";
import { loadPatternsDir } from "../core/patterns/load.ts";
import { chooseMatch } from "./choose.ts";
import { createMatcher } from "./match.ts";
import { withUnmatched } from "./unmatched.ts";

const all = loadPatternsDir(null);
const matcher = createMatcher(all);
const plain = (s: string, r: string) => matcher.match(s, r);

describe("withUnmatched: a record no pattern names still ships when its level says so", () => {
  const pg = withUnmatched(plain, all.get("postgres")!);
  const redis = withUnmatched(plain, all.get("redis")!);

  test("a FATAL nobody wrote a pattern for ships as postgres-unmatched, with the header's facts", () => {
    const line =
      "2026-12-04 20:51:46.667 UTC [32341] postgres@postgres FATAL:  the database system is not yet accepting connections";
    expect(plain("postgres", line)).toBeNull();
    const m = pg("postgres", line)!;
    expect(m.pattern.id).toBe("postgres-unmatched");
    expect(m.pattern.severity).toBe("error");
    expect(m.pattern.remediation).toBeUndefined();
    expect(m.message).toBe("the database system is not yet accepting connections");
    expect(m.fields).toMatchObject({ pid: "32341", user: "postgres", db: "postgres", level: "FATAL" });
  });

  test("a known failure keeps its own pattern, fields and fix", () => {
    const line =
      '2026-12-04 20:51:26.431 UTC [30999] FATAL:  no pg_hba.conf entry for replication connection from host "127.0.0.1", user "postgres", no encryption';
    expect(pg("postgres", line)?.pattern.id).toBe("pg-no-hba-entry");
  });

  test("Redis's start-up banner at # is ignored; a # line nobody wrote a pattern for is not", () => {
    expect(redis("redis", "32369:C 04 Dec 2026 20:51:54.910 # Configuration loaded")).toBeNull();
    const m = redis(
      "redis",
      "32435:M 04 Dec 2026 20:52:06.355 # Fatal error loading the DB: Invalid argument. Exiting.",
    );
    expect(m?.pattern.id).toBe("redis-unmatched");
    expect(m?.pattern.severity).toBe("warning");
  });

  test("a multiline record keeps its DETAIL lines and is chosen once", () => {
    const rec = [
      "2026-12-04 20:51:31.864 UTC [31036] ERROR:  division by zero",
      "2026-12-04 20:51:31.864 UTC [31036] STATEMENT:  select 1/0;",
    ].join("\n");
    const ch = chooseMatch(pg, () => false, "postgres", { text: rec, first: rec.split("\n")[0]!, lines: 2 });
    expect(ch?.m.pattern.id).toBe("postgres-unmatched");
    expect(ch?.text).toBe(rec);
    expect(ch?.continuation).toBeUndefined();
  });

  test("detect.unmatched: drop gives the plain matcher back", () => {
    expect(withUnmatched(plain, all.get("postgres")!, { unmatched: "drop" })).toBe(plain);
  });
});
