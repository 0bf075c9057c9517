import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { loadPatternsFile } from "../patterns/load.ts";
import { contentReasons, parseConfig } from "./content.ts";
import { checkAction } from "./index.ts";

const shipped = (service: string) =>
  loadPatternsFile(join(import.meta.dir, "..", "..", "patterns", `${service}.yml`)).spec.policy;

describe("parsing directives the way each server reads them", () => {
  test("nginx statements across lines, comments and quotes", () => {
    const e = parseConfig(
      "nginx",
      'user www-data;\n# load_module x.so;\nhttp { server { root "/var/www/#html"; } }\n',
    );
    expect(e.map((x) => x.text)).toEqual(["user www-data", "http", "server", 'root "/var/www/#html"']);
  });
  test("keyvalue with = or a space, trailing comments; ini sections", () => {
    expect(
      parseConfig(
        "keyvalue",
        "shared_preload_libraries = 'pg_stat_statements'  # needs restart\nloadmodule /x.so\n",
      ),
    ).toEqual([
      {
        directive: "shared_preload_libraries",
        value: "'pg_stat_statements'",
        text: "shared_preload_libraries 'pg_stat_statements'",
      },
      { directive: "loadmodule", value: "/x.so", text: "loadmodule /x.so" },
    ]);
    expect(
      parseConfig("ini", "[options]\nadmin_passwd = x\n; list_db = True\n").map((x) => x.directive),
    ).toEqual(["admin_passwd"]);
  });
});

describe("code-execution directives are refused by name, in new content and against the current file", () => {
  const nginx = shipped("nginx");
  const write = (policy: ReturnType<typeof shipped>, path: string, content: string) =>
    checkAction(policy, { type: "write_file", path, content });

  test("value and line rules are refused on the proposal alone", () => {
    expect(write(nginx, "/etc/nginx/nginx.conf", "user root;\nevents {}\n").reason).toContain(
      '"user" with a value like',
    );
    expect(
      write(shipped("postgres"), "/etc/postgresql/15/main/pg_hba.conf", "host all all 0.0.0.0/0 trust\n")
        .reason,
    ).toContain("may not be written by a fix");
    expect(
      write(shipped("redis"), "/etc/redis/redis.conf", "user default on nopass ~* +@all\n").reason,
    ).toContain('"user"');
    expect(write(shipped("odoo"), "/etc/odoo/odoo.conf", "[options]\nlist_db = True\n").reason).toContain(
      "list_db",
    );
    expect(write(nginx, "/etc/nginx/sites-available/x", "server { root /etc; }").reason).toContain(
      "system folder",
    );
  });

  test("directives that may only stay as they are make the write high risk until the host compares", () => {
    const v = write(nginx, "/etc/nginx/nginx.conf", "load_module /tmp/evil.so;\nevents {}\n");
    expect(v.allowed).toBe(true);
    expect(v.risk).toBe("high");
    expect(v.note).toContain('"load_module"');
    expect(write(nginx, "/etc/nginx/nginx.conf", "events {}\n").risk).toBe("medium");
  });

  test("against the current file: kept passes; added, changed or removed is refused, naming the directive", () => {
    const pg = shipped("postgres").content;
    const cur = "max_wal_size = 1GB\nshared_preload_libraries = 'pg_stat_statements'\n";
    expect(
      contentReasons(pg, "/etc/postgresql/15/main/postgresql.conf", cur.replace("1GB", "2GB"), cur),
    ).toEqual([]);
    expect(
      contentReasons(
        pg,
        "/etc/postgresql/15/main/postgresql.conf",
        `${cur}archive_command = 'sh -c id'\n`,
        cur,
      )[0],
    ).toContain('"archive_command" may not be added or changed');
    expect(
      contentReasons(pg, "/p/postgresql.conf", cur.replace("pg_stat_statements", "evil"), cur)[0],
    ).toContain('"shared_preload_libraries" may not be added or changed');
    expect(
      contentReasons(
        shipped("redis").content,
        "/etc/redis/redis.conf",
        "port 6379\n",
        "port 6379\nrequirepass s3cret\n",
      )[0],
    ).toContain('"requirepass" may not be removed');
    // A pg_hba line with trust already there may stay.
    const hba = "local all postgres peer\nhost all all 127.0.0.1/32 trust\n";
    expect(contentReasons(pg, "/x/pg_hba.conf", `${hba}host all all ::1/128 scram-sha-256\n`, hba)).toEqual(
      [],
    );
  });
});
