/**
 * Lines of programs that cannot be installed here (MySQL, Odoo, Rails, Laravel, PHP, Vault, Azure,
 * GCP, GitLab, SendGrid, Hugging Face, Stripe, Docker's config, PuTTY), written in the format their
 * documentation shows; each names its provenance as "documented: …". Token values have the real
 * shape (prefix, alphabet, length); the private key body comes from a real `openssl genpkey`.
 */
import { type Family, type LabelledLine, label, randomText, type Split, secret } from "./label.ts";

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URLSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
const b64 = (n: number) => randomText(n, B64);
const url = (n: number) => randomText(n, URLSAFE);
const hex = (n: number) => randomText(n, "0123456789abcdef");

interface Doc {
  split: Split;
  family: Family;
  source: string;
  /** The secret value (built with the shape its issuer uses). */
  value: () => string;
  line: (v: string) => string;
}

const odoo = "2024-05-14 10:22:31,123 4242 INFO shop odoo.modules.loading";
const CASES: Doc[] = [
  {
    split: "written",
    family: "sql",
    source: "documented: MySQL general query log",
    value: () => secret("%"),
    line: (v) => `2024-05-14T10:22:31.123456Z\t   12 Query\tCREATE USER 'app'@'%' IDENTIFIED BY '${v}'`,
  },
  {
    split: "written",
    family: "cloud",
    source: "documented: Azure Storage connection string",
    value: () => `${b64(86)}==`,
    line: (v) =>
      `Using connection string DefaultEndpointsProtocol=https;AccountName=shopdata;AccountKey=${v};EndpointSuffix=core.windows.net`,
  },
  {
    split: "written",
    family: "cloud",
    source: "documented: Azure SAS URL",
    value: () => `${b64(30)}%2B${b64(10)}%3D`,
    line: (v) =>
      `GET https://shopdata.blob.core.windows.net/exports/a.csv?sv=2022-11-02&ss=b&srt=o&sp=r&se=2024-05-15T00:00:00Z&spr=https&sig=${v} 403`,
  },
  {
    split: "written",
    family: "cloud",
    source: "documented: Google OAuth access token (gcloud --log-http)",
    value: () => `ya29.a0${url(150)}`,
    line: (v) => `authorization: Bearer ${v}`,
  },
  {
    split: "written",
    family: "cloud",
    source: "documented: GitLab personal access token",
    value: () => `glpat-${url(20)}`,
    line: (v) => `fatal: could not read from https://gitlab.example.com: token ${v} rejected`,
  },
  {
    split: "written",
    family: "cloud",
    source: "documented: SendGrid API key",
    value: () => `SG.${url(22)}.${url(43)}`,
    line: (v) => `mailer: SENDGRID_API_KEY loaded (${v})`,
  },
  {
    split: "written",
    family: "cloud",
    source: "documented: Hugging Face token",
    value: () => `hf_${randomText(34, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")}`,
    line: (v) => `huggingface_hub: using token ${v} from HF_TOKEN`,
  },
  {
    split: "written",
    family: "cloud",
    source: "documented: Stripe webhook signing secret",
    value: () => `whsec_${randomText(32)}`,
    line: (v) => `stripe listen: Ready! Your webhook signing secret is ${v} (^C to quit)`,
  },
  {
    split: "written",
    family: "cloud",
    source: "documented: Vault token (vault login output)",
    value: () => `hvs.${url(90)}`,
    line: (v) => `token                  ${v}`,
  },
  {
    split: "written",
    family: "cloud",
    source: "documented: Rails SECRET_KEY_BASE in an env dump",
    value: () => hex(128),
    line: (v) => `SECRET_KEY_BASE=${v}`,
  },
  {
    split: "written",
    family: "cloud",
    source: "documented: ~/.docker/config.json",
    value: () => Buffer.from(`ci:${secret("%")}`).toString("base64"),
    line: (v) => `{"auths":{"registry.internal":{"auth":"${v}"}}}`,
  },
  {
    split: "written",
    family: "structured",
    source: "documented: PHP print_r",
    value: () => secret("%"),
    line: (v) => `    [password] => ${v}`,
  },
  {
    split: "written",
    family: "cookie",
    source: "documented: Rails log (cookie store session)",
    value: () => `${url(60)}--${hex(40)}`,
    line: (v) => `Set-Cookie: _shop_session=${v}; path=/; secure; HttpOnly; SameSite=Lax`,
  },
  {
    split: "written",
    family: "spacing",
    source: "documented: fullwidth separators (CJK-localised app)",
    value: () => secret("%"),
    line: (v) => `データベース設定 password＝${v} host＝db01`,
  },
  {
    split: "written",
    family: "sql",
    source: "documented: Odoo odoo.sql_db bad query",
    value: () => secret("%"),
    line: (v) =>
      `2024-05-14 10:22:31,123 4242 ERROR shop odoo.sql_db: bad query: ALTER USER odoo WITH PASSWORD '${v}'`,
  },
  // Held out.
  {
    split: "heldout",
    family: "sql",
    source: "documented: MySQL 8 general log (ALTER USER)",
    value: () => secret("%"),
    line: (v) =>
      `2024-05-14T10:22:32.000001Z\t   13 Query\tALTER USER 'app'@'localhost' IDENTIFIED WITH caching_sha2_password BY '${v}'`,
  },
  {
    split: "heldout",
    family: "cloud",
    source: "documented: Azure Service Bus connection string",
    value: () => `${b64(43)}=`,
    line: (v) =>
      `Endpoint=sb://shop.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=${v}`,
  },
  {
    split: "heldout",
    family: "cloud",
    source: "documented: gsutil hmac create output",
    value: () => b64(40),
    line: (v) => `Secret:      ${v}`,
  },
  {
    split: "heldout",
    family: "cloud",
    source: "documented: GitLab runner registration",
    value: () => `glrt-${url(20)}`,
    line: (v) => `Registering runner... succeeded  runner=${v.slice(0, 8)} token=${v}`,
  },
  {
    split: "heldout",
    family: "cloud",
    source: "documented: Vault HTTP API response",
    value: () => `hvs.${url(90)}`,
    line: (v) => `{"auth":{"client_token":"${v}","accessor":"${url(24)}","policies":["default"]}}`,
  },
  {
    split: "heldout",
    family: "cloud",
    source: "documented: Stripe CLI webhook secret in an env dump",
    value: () => `whsec_${randomText(32)}`,
    line: (v) => `STRIPE_WEBHOOK_SECRET=${v}`,
  },
  {
    split: "heldout",
    family: "cloud",
    source: "documented: PuTTY private key file (PPK v3)",
    value: () => b64(64),
    line: (v) => `Private-Lines: 1\n${v}\nPrivate-MAC: ${hex(64)}`,
  },
  {
    split: "heldout",
    family: "structured",
    source: "documented: PHP var_dump",
    value: () => secret("%"),
    line: (v) => `  ["password"]=>\n  string(${v.length}) "${v}"`,
  },
  {
    split: "heldout",
    family: "cookie",
    source: "documented: Laravel request log",
    value: () => url(200),
    line: (v) =>
      `[2024-05-14 10:22:31] production.INFO: request {"cookie":"XSRF-TOKEN=${url(40)}; laravel_session=${v}"}`,
  },
  {
    split: "heldout",
    family: "spacing",
    source: "documented: fullwidth colon (CJK-localised app)",
    value: () => secret("%"),
    line: (v) => `接続情報 user：odoo passwd：${v}`,
  },
  {
    split: "heldout",
    family: "cli",
    source: "documented: Odoo server start line",
    value: () => secret("%"),
    line: (v) => `${odoo}: odoo-bin --db_host=db --db_user=odoo --db_password=${v} --workers=4`,
  },
];

async function openSslKeyBody(): Promise<string[]> {
  const p = Bun.spawn(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"], {
    stdout: "pipe",
    stderr: "ignore",
  });
  const pem = await new Response(p.stdout).text();
  return pem.split("\n").filter((l) => l.length > 0 && !l.startsWith("-----"));
}

export async function captureDocumented(): Promise<LabelledLine[]> {
  const out: LabelledLine[] = [];
  for (const c of CASES) {
    const v = c.value();
    // One record per case (PPK and var_dump span lines the way a multiline record would carry them).
    out.push(...label([c.line(v)], { family: c.family, secrets: [v], source: c.source, split: c.split }));
  }
  // A record cut after the BEGIN line: the key body alone (real openssl output), one line per record.
  const body = await openSslKeyBody();
  body.forEach((l, i) => {
    const split = i % 2 === 0 ? "written" : "heldout";
    out.push(
      ...label([l], {
        family: "cloud",
        secrets: [l],
        source: "openssl genpkey RSA body without its BEGIN line (real)",
        split,
      }),
    );
  });
  return out;
}
