/**
 * Short command-line options that mean a password only for the tool that takes them (`-p` is a
 * port for most programs): mysql's glued `-psecret`, `redis-cli -a`, `sshpass -p`, the LDAP
 * tools' `-w`, `docker login -p`, `sqlcmd -P`, the mongo tools' `-p`, `smbclient -U user%pw`,
 * OpenSSL's `pass:pw` and `-k pw`. Long options (`--password x`, `-storepass x`) are the key
 * vocabulary's (keys.ts).
 */
import type { Rule } from "../types.ts";
import { isPlaceholder } from "../types.ts";

const VALUE = String.raw`(?:'([^'\n]{1,256})'|"([^"\n]{1,256})"|([^\s'"]{1,256}))`;
const tool = (names: string, flag: string, glued = false) =>
  new RegExp(
    String.raw`(?<![\w.-])(?:${names})\b[^\n]{0,512}?[ \t]${flag}${glued ? "(?![- ])" : "[ \\t]{1,3}(?!-)"}${VALUE}`,
    "dg",
  );

const TOOLS: RegExp[] = [
  tool(
    "mysql|mysqldump|mysqladmin|mysqlimport|mysqlcheck|mysqlshow|mariadb|mariadb-dump|mariadb-admin",
    "-p",
    true,
  ),
  tool("redis-cli|valkey-cli|keydb-cli", "-a"),
  tool("sshpass", "-p"),
  tool("ldapsearch|ldapadd|ldapmodify|ldapdelete|ldapwhoami|ldappasswd|ldapcompare|ldapmodrdn", "-w"),
  tool("(?:docker|podman|nerdctl|buildah|skopeo|oras) login|helm registry login", "-p"),
  tool("sqlcmd|bcp|isql|osql", "-P"),
  tool("mongo|mongosh|mongodump|mongorestore|mongoexport|mongoimport|mongostat|mongotop", "-p"),
  tool("openssl", "-k"),
  // smbclient -U user%password: the password follows the %.
  /(?<![\w.-])(?:smbclient|rpcclient|smbcacls)\b[^\n]{0,512}?[ \t](?:-U|--user)[ \t]{0,3}['"]?[^\s%'"]{1,128}%([^\s'"]{1,256})/dg,
  // OpenSSL pass phrase arguments: -passin pass:pw, -passout pass:pw.
  /(?<![\w-])pass:([^\s'"]{1,256})/dg,
];

export const toolOption: Rule = {
  name: "password option of a command-line tool",
  gate: /mysql|mariadb|-cli|sshpass|ldap|docker|podman|nerdctl|buildah|skopeo|helm|oras|sqlcmd|bcp|isql|osql|mongo|openssl|smb|rpcclient|pass:/,
  find(text, report) {
    for (const re of TOOLS) {
      re.lastIndex = 0;
      for (let m = re.exec(text); m !== null; m = re.exec(text)) {
        const g = m[3] !== undefined ? 3 : m[2] !== undefined ? 2 : 1;
        const span = m.indices?.[g];
        if (!span || isPlaceholder(m[g]!)) continue;
        report(span[0], span[1], "password");
        re.lastIndex = span[1];
      }
    }
  },
  examples: [
    ["+ mysql -u root -pMarmot9962 shop", "+ mysql -u root -p[REDACTED:password] shop"],
    ["+ redis-cli -h cache -a Copper3850 ping", "+ redis-cli -h cache -a [REDACTED:password] ping"],
    [
      "+ ldapsearch -x -D cn=admin,dc=ex -w Harbor7895 -b dc=ex",
      "+ ldapsearch -x -D cn=admin,dc=ex -w [REDACTED:password] -b dc=ex",
    ],
    ["+ sshpass -p 'Fal con9' ssh deploy@web1", "+ sshpass -p '[REDACTED:password]' ssh deploy@web1"],
    ["+ docker login -u ci -p Velvet12 registry", "+ docker login -u ci -p [REDACTED:password] registry"],
    ["sqlcmd -S db -U sa -P Str0ng! -Q x", "sqlcmd -S db -U sa -P [REDACTED:password] -Q x"],
    [
      "mongosh --host db -u admin -p Lan9tern --authenticationDatabase admin",
      "mongosh --host db -u admin -p [REDACTED:password] --authenticationDatabase admin",
    ],
    [
      "openssl pkcs12 -export -passout pass:Orc9hid",
      "openssl pkcs12 -export -passout pass:[REDACTED:password]",
    ],
    ["smbclient //fs/share -U backup%Cop9per", "smbclient //fs/share -U backup%[REDACTED:password]"],
  ],
  counterExamples: [
    "mysql -u root -p shop",
    "redis-cli -p 6379 ping",
    "docker run -p 8080:80 nginx",
    "pg_dump -w -h db shop",
    "ssh -p 2222 deploy@web1",
    "mysql -h db --port 3306 -u app",
  ],
};
