import { afterAll, expect, test } from "bun:test";
import * as v from "valibot";
import { createEmbeddedBroker } from "../broker/index.ts";
import { CentralConfig } from "../core/config/central.ts";
import { silentLogger } from "../core/log.ts";
import { startApi } from "./server.ts";
import { makeTestApp, TOKENS } from "./test-support.ts";

/**
 * Fuzz every route of the OpenAPI document (plus /ws and unknown paths) with malformed bodies,
 * wrong content types, bad tokens, odd methods and hostile path parameters. The promise under
 * test is the API's: bad input is a 4xx, never a 5xx, and the app keeps serving afterwards.
 *
 * Reproduce a failure with the seed it prints: `FUZZ_SEED=1234 bun test api/fuzz.test.ts`.
 * `FUZZ_CASES` changes the number of cases (2,000 by default, a few seconds).
 */

const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31) >>> 0;
const CASES = Number(process.env.FUZZ_CASES ?? 2000);

/** mulberry32: small, fast, good enough to pick cases, and fully determined by the seed. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, pick, chance: (p: number) => next() < p };
}
type Rng = ReturnType<typeof prng>;

const t = makeTestApp();
afterAll(async () => {
  await t.broker.close();
});

const MAX_BODY = 65536;

const UNICODE = ["ü", "日本語", "🦊", "\u202e", "\u0000", "\ufeff", "\ud800", "e\u0301", "\u2028", "Ω≈ç√"];
const HOSTILE_KEYS = ["__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "valueOf"];
const IDS = [
  "../../etc/passwd",
  "..%2f..%2fetc%2fpasswd",
  "%2e%2e",
  "..",
  ".",
  "%00",
  "a%00b",
  "%",
  "%zz",
  "%ff%fe",
  "%E2%80%AE",
  "x".repeat(201),
  "y".repeat(5000),
  "__proto__",
  "constructor",
  "<script>alert(1)</script>",
  "'; DROP TABLE fixes; --",
  "%20",
  "fix1",
  "web-01",
  encodeURIComponent("🦊"),
  "a/b",
  "*",
  "mcp:errors",
];
const QUERIES = [
  "",
  "?limit=abc",
  "?limit=99999999999",
  "?limit=-1&offset=-5",
  "?offset=1e9",
  "?since=not-a-date",
  "?since=2024-01-01T00:00:00Z&until=2023-01-01T00:00:00Z",
  "?status=open&status=fixed",
  "?status[]=x",
  "?__proto__[polluted]=1",
  "?constructor[prototype][polluted]=1",
  "?confirm=yes",
  "?confirm=",
  "?confirm=%00",
  "?service=%zz",
  `?host=${"h".repeat(3000)}`,
  "?token=viewer-token-123",
  "?&&&==",
];
const METHODS = [
  "GET",
  "POST",
  "PUT",
  "DELETE",
  "PATCH",
  "OPTIONS",
  "HEAD",
  "PROPFIND",
  "FOO",
  "get",
  "M-SEARCH",
];
const CONTENT_TYPES = [
  undefined,
  "application/json",
  "application/json; charset=utf-8",
  "application/json; charset=utf-16",
  "text/plain",
  "text/html",
  "application/x-www-form-urlencoded",
  "multipart/form-data",
  "multipart/form-data; boundary=xyz",
  "application/octet-stream",
  "application/xml",
  "application/",
  ";;;",
  "application/json\u00e9",
];
const SERVICES = ["nginx", "postgres", "redis", "odoo", "unknown-svc", "", "NGINX"];

/** A valid POST /errors entry, the starting point of near-miss mutations. */
function validError(r: Rng): Record<string, unknown> {
  return {
    client_id: `c-${r.int(100)}`,
    host: "web-01",
    service: r.pick(SERVICES.slice(0, 4)),
    message: `upstream timed out ${r.int(1e6)}`,
  };
}

function randomScalar(r: Rng): unknown {
  switch (r.int(12)) {
    case 0:
      return null;
    case 1:
      return r.chance(0.5);
    case 2:
      return r.int(2 ** 31) * (r.chance(0.5) ? -1 : 1);
    case 3:
      return r.pick([0, -0, 1e308, -1e308, 5e-324, Number.MAX_SAFE_INTEGER + 2, 0.5]);
    case 4:
      return String(r.int(1000)); // a number as a string
    case 5:
      return r.pick(UNICODE).repeat(1 + r.int(20));
    case 6:
      return "x".repeat(r.pick([0, 1, 199, 200, 201, 255, 256, 4097, 65537]));
    case 7:
      return r.pick(HOSTILE_KEYS);
    case 8:
      return "2024-13-45T99:99:99Z";
    case 9:
      return r.pick(SERVICES);
    default:
      return `s${r.int(1000)}`;
  }
}

function randomValue(r: Rng, depth: number): unknown {
  if (depth > 4 || r.chance(0.4)) return randomScalar(r);
  if (r.chance(0.5)) return Array.from({ length: r.int(5) }, () => randomValue(r, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = r.int(6); i > 0; i--) {
    const key = r.chance(0.3) ? r.pick(HOSTILE_KEYS) : r.chance(0.2) ? r.pick(UNICODE) : `k${r.int(50)}`;
    o[key] = randomValue(r, depth + 1);
  }
  return o;
}

/** A valid body with one field broken: wrong type, missing, extra, or out of bounds. */
function nearMiss(r: Rng): Record<string, unknown> {
  const o = validError(r);
  const fields = [
    "client_id",
    "host",
    "service",
    "message",
    "count",
    "time",
    "fields",
    "source",
    "severity",
    "event_id",
  ];
  for (let i = 1 + r.int(3); i > 0; i--) {
    const f = r.pick(fields);
    if (r.chance(0.2)) delete o[f];
    else o[f] = r.chance(0.3) ? randomValue(r, 2) : randomScalar(r);
  }
  return o;
}

function deep(r: Rng, n: number): string {
  const open = r.chance(0.5) ? "[" : '{"a":';
  const close = open === "[" ? "]" : "}";
  return open.repeat(n) + (r.chance(0.5) ? "1" : "") + close.repeat(r.chance(0.8) ? n : n - 1);
}

/** Hand-written JSON text with prototype-pollution keys, which JSON.stringify cannot produce. */
function pollution(r: Rng): string {
  const inner = r.pick([
    '{"__proto__":{"polluted":true}}',
    '{"constructor":{"prototype":{"polluted":true}}}',
    '{"__proto__":{"role":"admin"},"reason":"x"}',
    '[{"__proto__":{"client_id":"x"},"host":"h","service":"nginx","message":"m"}]',
  ]);
  if (!r.chance(0.5)) return inner;
  const base = JSON.stringify(validError(r));
  return `${base.slice(0, -1)},"__proto__":${inner}}`;
}

function randomBody(r: Rng): string | Uint8Array | undefined {
  switch (r.int(16)) {
    case 0:
      return undefined;
    case 1:
      return crypto.getRandomValues(new Uint8Array(r.int(2048))).map(() => r.int(256));
    case 2:
      return deep(r, r.pick([10, 1000, 20_000, 32_000]));
    case 3:
      return JSON.stringify({ message: "m".repeat(r.pick([60_000, 70_000, 200_000])) });
    case 4:
      return JSON.stringify(Array.from({ length: r.pick([0, 1, 999, 1001]) }, () => validError(r)));
    case 5:
      return "null";
    case 6:
      return JSON.stringify(randomScalar(r));
    case 7:
      return pollution(r);
    case 8:
      return "{oops";
    case 9:
      return "";
    case 10:
      return JSON.stringify(nearMiss(r));
    case 11:
      return JSON.stringify(Array.from({ length: 1 + r.int(4) }, () => nearMiss(r)));
    case 12:
      return JSON.stringify(validError(r));
    case 13:
      return JSON.stringify(
        r.pick([{ reason: "" }, { reason: 5 }, { note: [], dry_run: "yes" }, { reason: "ok" }]),
      );
    case 14:
      return `--xyz\r\nContent-Disposition: form-data; name="reason"\r\n\r\n${randomScalar(r)}\r\n--xyz--\r\n`;
    default:
      return JSON.stringify(randomValue(r, 0));
  }
}

function randomAuth(r: Rng): string | undefined {
  // Most requests carry a valid token so that they get past auth into parsing and validation.
  if (r.chance(0.6)) return `Bearer ${r.pick([TOKENS.viewer, TOKENS.operator, TOKENS.admin, TOKENS.admin])}`;
  switch (r.int(10)) {
    case 0:
      return undefined;
    case 1:
      return "Bearer wrong-token";
    case 2:
      return `Bearer ${"t".repeat(r.pick([4096, 4097, 20_000]))}`;
    case 3:
      return "Bearer";
    case 4:
      return `Basic ${btoa("admin:admin")}`;
    case 5:
      return `bearer ${TOKENS.admin}`;
    case 6:
      return `Bearer ${TOKENS.operator} extra`;
    case 7:
      return `Bearer ${TOKENS.viewer.slice(0, -1)}`;
    case 8:
      return `Bearer  ${TOKENS.admin}\t`;
    default:
      return `Bearer ${TOKENS.admin}${r.pick(UNICODE)}`;
  }
}

interface Case {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string | Uint8Array | undefined;
}

function describeCase(c: Case): string {
  const body =
    c.body === undefined
      ? "none"
      : typeof c.body === "string"
        ? JSON.stringify(c.body.length > 120 ? `${c.body.slice(0, 120)}…(${c.body.length})` : c.body)
        : `${c.body.length} random bytes`;
  const path = c.path.length > 160 ? `${c.path.slice(0, 160)}…(${c.path.length})` : c.path;
  const headers = Object.fromEntries(
    Object.entries(c.headers).map(([k, v]) => [k, v.length > 60 ? `${v.slice(0, 60)}…(${v.length})` : v]),
  );
  return `${c.method} ${path} headers=${JSON.stringify(headers)} body=${body}`;
}

test(`fuzz: ${CASES} malformed requests over every route never yield a 5xx (seed ${SEED})`, async () => {
  console.log(`api fuzz: seed ${SEED} (FUZZ_SEED=${SEED} to reproduce), ${CASES} cases`);
  const doc = await t.call("GET", "/swagger/json");
  expect(doc.status).toBe(200);
  const routes: Array<{ method: string; path: string }> = [];
  for (const [path, ops] of Object.entries(doc.json.paths as Record<string, object>)) {
    for (const method of Object.keys(ops)) routes.push({ method: method.toUpperCase(), path });
  }
  // The document must cover the product's endpoints, or the fuzzing would silently skip them.
  for (const p of [
    "/errors",
    "/errors/{id}",
    "/fixes/{id}/approve",
    "/clients/{id}",
    "/queues/errors/clear",
  ]) {
    expect(routes.some((r) => r.path === p)).toBe(true);
  }
  routes.push({ method: "GET", path: "/ws" }, { method: "GET", path: "/no/such/route" });
  routes.push({ method: "POST", path: "/swagger/json" }, { method: "GET", path: "/errors/{id}/{id}" });

  const r = prng(SEED);
  const failures: string[] = [];
  const statuses = new Map<number, number>();
  let built = 0;
  for (let i = 0; i < CASES; i++) {
    const route = r.pick(routes);
    let path = route.path.replaceAll("{id}", () => (r.chance(0.85) ? r.pick(IDS) : `id-${r.int(10)}`));
    if (r.chance(0.1)) path = `${path}${r.pick(["/", "//", "/..", "/%2e%2e/health", "?", "#frag"])}`;
    if (r.chance(0.1)) path = `/${r.pick(IDS)}${path}`;
    path += r.chance(0.4) ? r.pick(QUERIES) : "";
    const method = r.chance(0.7) ? route.method : r.pick(METHODS);
    const headers: Record<string, string> = {};
    const auth = randomAuth(r);
    if (auth !== undefined) headers.authorization = auth;
    let body = randomBody(r);
    if (method === "GET" || method === "HEAD" || method === "get") body = undefined;
    const ct = r.chance(0.6) ? "application/json" : r.pick(CONTENT_TYPES);
    if (ct !== undefined) headers["content-type"] = ct;
    if (body !== undefined) {
      const length = typeof body === "string" ? Buffer.byteLength(body) : body.length;
      // Mostly the true length (the server sets it from the socket); sometimes a lie.
      headers["content-length"] = r.chance(0.9)
        ? String(length)
        : r.pick(["0", "-1", "abc", "1e9", String(MAX_BODY + 1)]);
    }
    if (r.chance(0.05)) headers.upgrade = "websocket";
    if (r.chance(0.05)) headers["x-forwarded-for"] = "10.0.0.1";
    const c: Case = { method, path, headers, body };

    let request: Request;
    try {
      request = new Request(`http://localhost${path}`, { method, headers, body });
    } catch {
      // A request the Fetch API refuses to build (forbidden method, bad header byte) cannot reach
      // the server through Bun's HTTP parser either.
      continue;
    }
    built++;
    let status: number;
    try {
      const res = await t.app.handle(request);
      status = res.status;
      await res.arrayBuffer();
    } catch (e) {
      failures.push(`#${i} threw ${(e as Error)?.message}: ${describeCase(c)}`);
      continue;
    }
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    if (status >= 500) failures.push(`#${i} answered ${status}: ${describeCase(c)}`);
  }
  console.log(
    `api fuzz: ${built} requests sent; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}`,
  );
  if (failures.length > 0) {
    console.log(
      `api fuzz: ${failures.length} failures with seed ${SEED}:\n${failures.slice(0, 15).join("\n")}`,
    );
  }
  expect(failures).toEqual([]);
  // Most cases must reach past the generic refusals, or the fuzzing proves little.
  expect(built).toBeGreaterThan(CASES * 0.8);
  expect([...statuses.keys()].some((s) => s === 422)).toBe(true);
  expect([...statuses.keys()].some((s) => s === 202 || s === 200)).toBe(true);

  // The app still serves, and no prototype was polluted along the way.
  const health = await t.call("GET", "/health");
  expect(health.status).toBe(200);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(({} as Record<string, unknown>).role).toBeUndefined();
  const status = await t.call("GET", "/status", { token: TOKENS.viewer });
  expect(status.status).toBe(200);
});

test("a deeply nested body is a 400, not an out-of-memory 500 (found by this fuzz test)", async () => {
  // Elysia's ValidationError pretty-prints the body: 10,000 levels of arrays took gigabytes.
  for (const raw of [
    "[".repeat(20_000) + "]".repeat(20_000),
    '{"a":'.repeat(5000) + "1" + "}".repeat(5000),
  ]) {
    for (const [path, token] of [
      ["/errors", TOKENS.operator],
      ["/clients", TOKENS.admin],
      ["/fixes/f1/reject", TOKENS.operator],
    ] as const) {
      const res = await t.call("POST", path, { token, raw });
      expect(res.status).toBe(400);
      expect(res.json.error).toBe("malformed_body");
    }
  }
  const ok = await t.call("POST", "/errors", {
    token: TOKENS.operator,
    body: [{ client_id: "c", host: "h", service: "nginx", message: "m", source: { path: "/x", offset: 1 } }],
  });
  expect(ok.status).toBe(202);
});

/** Send raw bytes on a fresh socket; resolve with the status line (or "" when the server closes). */
async function rawStatusLine(port: number, bytes: string): Promise<string> {
  let got = "";
  const done = Promise.withResolvers<void>();
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(_s, d) {
        got += d.toString("latin1");
        if (got.includes("\r\n")) done.resolve();
      },
      close: () => done.resolve(),
      error: () => done.resolve(),
    },
  });
  socket.write(bytes);
  const timer = setTimeout(() => done.resolve(), 5000);
  await done.promise;
  clearTimeout(timer);
  socket.end();
  return got.split("\r\n")[0] ?? "";
}

test("the real server: requests Bun parses oddly (HTTP/1.0 without Host, absolute-form targets) are never a 5xx", async () => {
  const broker = createEmbeddedBroker({ path: ":memory:" });
  const config = v.parse(CentralConfig, {
    api: { tokens: [{ name: "v", token: TOKENS.viewer, role: "viewer" }] },
  });
  const api = await startApi({ broker, config, log: silentLogger, version: "t", host: "127.0.0.1", port: 0 });
  try {
    // Without Host, request.url is relative ("/health"): `new URL(request.url)` threw, a 500.
    expect(await rawStatusLine(api.port, "GET /health HTTP/1.0\r\n\r\n")).toContain(" 200 ");
    expect(await rawStatusLine(api.port, "GET /status HTTP/1.0\r\n\r\n")).toContain(" 401 ");
    expect(
      await rawStatusLine(api.port, `GET /status HTTP/1.0\r\nAuthorization: Bearer ${TOKENS.viewer}\r\n\r\n`),
    ).toContain(" 200 ");
    // An unknown path is a 404 with or without a token.
    expect(await rawStatusLine(api.port, "GET /nope/%00/../x HTTP/1.0\r\n\r\n")).toContain(" 404 ");
    for (const raw of [
      "GET http://evil.example/health HTTP/1.1\r\nHost: evil.example\r\n\r\n",
      "GET /health HTTP/1.1\r\n\r\n",
      "BREW /health HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /../../etc/passwd HTTP/1.1\r\nHost: localhost\r\n\r\n",
      `GET /${"a".repeat(20_000)} HTTP/1.1\r\nHost: localhost\r\n\r\n`,
      "POST /errors HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "\x00\x01\x02 garbage\r\n\r\n",
    ]) {
      const line = await rawStatusLine(api.port, raw);
      expect(line).not.toMatch(/^HTTP\/1\.[01] 5\d\d/);
    }
    expect((await fetch(`${api.url}/health`)).status).toBe(200);
  } finally {
    await api.stop();
    await broker.close();
  }
});
