/**
 * nginx in front of a Flask app, driven by curl: access logs with secret-bearing query strings,
 * Authorization and Cookie headers, Set-Cookie from the upstream, reset tokens in paths, a bot
 * token in an upstream URL (error log), beside look-alikes (request ids, trace ids, asset hashes,
 * UUIDs, commit hashes). Werkzeug's own request log is captured too.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { defaultNginxConfig, startNginx } from "../../test/harness/nginx.ts";
import { canConnect, freePort, waitFor } from "../../test/harness/ports.ts";
import { type Family, type LabelledLine, label, randomText, type Split, secret } from "./label.ts";

const hex = (n: number) => randomText(n, "0123456789abcdef");

/** One request: curl arguments (the URL path first), the secret it carries, the family. */
interface Req {
  split: Split;
  family: Family;
  shape: string;
  curl: (s: string) => string[];
  keep?: string[];
}

const TG = `${10_000_000 + Math.floor(Math.random() * 80_000_000)}`;
const REQUESTS: Req[] = [
  { split: "written", family: "query-header", shape: "#", curl: (s) => [`/api/export?auth=${s}&format=csv`] },
  {
    split: "written",
    family: "query-header",
    shape: "##",
    curl: (s) => [`/oauth/callback?code=${s}&state=xyz`],
  },
  { split: "written", family: "query-header", shape: "#", curl: (s) => [`/maps/tile?key=${s}&z=3`] },
  {
    split: "written",
    family: "query-header",
    shape: "##",
    curl: (s) => [`/dl/report.pdf?exp=1715682151&sig=${s}`],
  },
  {
    split: "written",
    family: "query-header",
    shape: "%",
    curl: (s) => [`/login?next=%2Fadmin%3Fpassword%3D${s}%26x%3D1`],
  },
  { split: "written", family: "query-header", shape: "%", curl: (s) => ["/private/", "-u", `admin:${s}`] },
  {
    split: "written",
    family: "query-header",
    shape: "###",
    curl: (s) => ["/api/me", "-H", `Authorization: Bearer ${s}`],
  },
  { split: "written", family: "query-header", shape: "####", curl: (s) => [`/password/reset/${s}`] },
  {
    split: "written",
    family: "cookie",
    shape: "####",
    curl: (s) => ["/cart", "-H", `Cookie: theme=dark; sessionid=${s}`],
  },
  { split: "written", family: "cookie", shape: "###", curl: (s) => [`/login?name=PHPSESSID&value=${s}`] },
  {
    split: "written",
    family: "cookie",
    shape: "####",
    curl: (s) => [`/login?name=laravel_session&value=${s}`],
  },
  {
    split: "written",
    family: "url",
    shape: "#/#",
    curl: (s) => [`/hook?target=${encodeURIComponent(`https://u:${s}@hooks.internal/x`)}`],
  },
  {
    split: "written",
    family: "query-header",
    shape: "####",
    curl: (s) => [`/tg/bot${TG}:${s}/sendMessage?chat_id=42`],
  },
  // Held out.
  { split: "heldout", family: "query-header", shape: "#", curl: (s) => [`/v2/search?api-key=${s}&q=shoes`] },
  { split: "heldout", family: "query-header", shape: "###", curl: (s) => [`/reset-password?token=${s}`] },
  { split: "heldout", family: "query-header", shape: "####", curl: (s) => [`/auth/magic-link/${s}`] },
  {
    split: "heldout",
    family: "query-header",
    shape: "%",
    curl: (s) => [`/sso?redirect_uri=%2Fcb%3Ftoken%3D${s}`],
  },
  {
    split: "heldout",
    family: "query-header",
    shape: "##",
    curl: (s) => ["/api/v1", "-H", `X-Api-Key: ${s}`],
  },
  { split: "heldout", family: "query-header", shape: "%", curl: (s) => ["/admin/", "-u", `ops:${s}`] },
  {
    split: "heldout",
    family: "query-header",
    shape: "#####",
    curl: (s) => [`/bucket/obj.bin?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=300&X-Amz-Signature=${s}`],
  },
  {
    split: "heldout",
    family: "cookie",
    shape: "####",
    curl: (s) => ["/", "-H", `Cookie: connect.sid=s%3A${s}; lang=en`],
  },
  { split: "heldout", family: "cookie", shape: "####", curl: (s) => [`/login?name=JSESSIONID&value=${s}`] },
  { split: "heldout", family: "cookie", shape: "####", curl: (s) => ["/", "-H", `Cookie: session_id=${s}`] },
  {
    split: "heldout",
    family: "url",
    shape: "#@#",
    curl: (s) => [`/proxy?u=${encodeURIComponent(`ftp://deploy:${s}@files.internal/pub`)}`],
  },
];

function lookalikes(): Array<{ path: string; keep: string[]; headers?: string[] }> {
  const trace = `00-${hex(32)}-${hex(16)}-01`;
  const uuid = `${hex(8)}-${hex(4)}-4${hex(3)}-8${hex(3)}-${hex(12)}`;
  const sha = hex(40);
  return [
    { path: `/static/js/main.${hex(8)}.chunk.js`, keep: [] },
    { path: `/assets/app-${hex(20)}.css`, keep: [] },
    { path: `/api/orders/${uuid}`, keep: [uuid] },
    { path: `/repo/commit/${sha}`, keep: [sha] },
    { path: "/api/items?page=2&sort=desc&token_type=bearer", keep: [] },
    { path: `/api/v1/ping`, keep: [trace], headers: ["-H", `traceparent: ${trace}`] },
    { path: `/keys/rotate?key_id=${hex(12)}&keyspace=orders`, keep: [] },
    { path: `/search?q=password+reset+help&session_timeout=30`, keep: [] },
    { path: "/login?name=theme&value=dark", keep: [] },
    { path: `/docs/authentication#api-keys`, keep: [] },
  ];
}

function nginxConfig(upstream: number) {
  return (l: Parameters<typeof defaultNginxConfig>[0]) =>
    defaultNginxConfig(l)
      .replace(
        `access_log ${l.accessLog};`,
        `log_format full '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" rid=$request_id auth="$http_authorization" cookie="$http_cookie" set_cookie="$upstream_http_set_cookie" xkey="$http_x_api_key" tp="$http_traceparent"';
  access_log ${l.accessLog} full;`,
      )
      .replace(
        "location / { index index.html; }",
        `location / { proxy_pass http://127.0.0.1:${upstream}; }
    location /tg/ { proxy_pass http://127.0.0.1:${l.refusedPort}/; }`,
      );
}

export async function captureHttp(): Promise<LabelledLine[]> {
  const appPort = await freePort();
  const flaskKey = secret("##");
  const app = Bun.spawn(["python3", join(import.meta.dir, "app.py"), String(appPort), flaskKey], {
    stdout: "pipe",
    stderr: "pipe",
  });
  await waitFor("flask", () => canConnect(appPort));
  const ngx = await startNginx({ config: nginxConfig(appPort) });
  const out: LabelledLine[] = [];
  const sizes = () => [readFileSync(ngx.accessLog).length, readFileSync(ngx.errorLog).length];
  const since = (path: string, from: number) =>
    readFileSync(path).subarray(from).toString("utf8").split("\n");
  const curl = async (args: string[]) => {
    const [path, ...rest] = args;
    const p = Bun.spawn(["curl", "-s", "-o", "/dev/null", ...rest, ngx.url(path)], {
      stdout: "ignore",
      stderr: "ignore",
    });
    await p.exited;
    await Bun.sleep(60);
  };
  const source = (f: string) => `nginx ${f} (real server, custom log_format with headers; curl client)`;
  const used: Array<{ s: string; family: Family; split: Split }> = [];
  try {
    for (const r of REQUESTS) {
      const s = secret(r.shape);
      // curl -u sends the pair base64-encoded: that form must not survive either.
      const args = r.curl(s);
      const user = args[args.indexOf("-u") + 1];
      const b64 = args.includes("-u") && user ? Buffer.from(user).toString("base64") : undefined;
      used.push({ s, family: r.family, split: r.split });
      const [a, e] = sizes();
      await curl(args);
      const o = { family: r.family, secrets: [s, flaskKey, ...(b64 ? [b64] : [])], split: r.split };
      out.push(...label(since(ngx.accessLog, a!), { ...o, source: source("access log") }));
      out.push(...label(since(ngx.errorLog, e!), { ...o, source: source("error log") }));
    }
    for (const l of lookalikes()) {
      const [a, e] = sizes();
      await curl([l.path, ...(l.headers ?? [])]);
      const o = {
        family: "query-header" as const,
        secrets: [flaskKey],
        keep: l.keep,
        split: "written" as const,
      };
      out.push(...label(since(ngx.accessLog, a!), { ...o, source: source("access log") }));
      out.push(...label(since(ngx.errorLog, e!), { ...o, source: source("error log") }));
    }
  } finally {
    await ngx.stop();
    app.kill();
  }
  // Werkzeug's request log: each line is labelled by the request whose secret it holds (if any).
  const werkzeug = (await new Response(app.stderr).text()).split("\n");
  for (const line of werkzeug) {
    const u = used.find(
      (x) =>
        label([line], { family: x.family, secrets: [x.s], source: "", split: x.split })[0]?.secrets.length,
    );
    const o = u ?? { s: flaskKey, family: "query-header" as const, split: "written" as const };
    out.push(
      ...label([line], {
        family: o.family,
        secrets: [o.s],
        source: "werkzeug 3 dev server request log (real)",
        split: o.split,
      }),
    );
  }
  return out;
}
