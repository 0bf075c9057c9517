/**
 * Load generator: realistic log lines in each service's own format, with a known mix of errors.
 *
 *   bun bench/error-generator.ts --rate 100 --duration 300 [--service nginx|postgres|redis|odoo|mixed]
 *                                [--error-rate 0.02] [--out FILE]
 *
 * Error lines are the `examples` of the service's patterns file (so each one is known to match its
 * pattern id) with a fresh timestamp and connection number; ordinary lines are the counter-examples
 * plus common benign lines. Without --out, lines go to stdout; with `mixed`, each service writes to
 * `FILE.<service>.log`. As a library, `makeGenerator()` produces lines fast for the benchmarks.
 */
import { appendFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { loadPatternsDir } from "../core/patterns/load.ts";

export const SERVICES = ["nginx", "postgres", "redis", "odoo"] as const;
export type GenService = (typeof SERVICES)[number];

const BENIGN: Record<GenService, string[]> = {
  nginx: [
    "{T} [info] {P}#{P}: *{N} client 10.0.{A}.{B} closed keepalive connection",
    "{T} [notice] {P}#{P}: signal process started",
    "{T} [info] {P}#{P}: *{N} client timed out (110: Connection timed out) while waiting for request, client: 10.0.{A}.{B}, server: 0.0.0.0:443",
    '{T} [warn] {P}#{P}: *{N} an upstream response is buffered to a temporary file /var/cache/nginx/proxy_temp/{N} while reading upstream, client: 10.0.{A}.{B}, server: shop.example.com, request: "GET /api/items?page={A} HTTP/1.1", upstream: "http://127.0.0.1:8069/api/items?page={A}", host: "shop.example.com"',
    '{T} [info] {P}#{P}: *{N} client sent invalid method while reading client request line, client: 10.0.{A}.{B}, server: shop.example.com, request: "\\x16\\x03\\x01"',
  ],
  postgres: [
    "{T} [{P}] LOG:  connection received: host=10.0.{A}.{B} port={N}",
    "{T} [{P}] LOG:  connection authorized: user=app database=prod application_name=psql",
    "{T} [{P}] LOG:  checkpoint starting: time",
    "{T} [{P}] LOG:  disconnection: session time: 0:00:0{A}.{B} user=app database=prod host=10.0.{A}.{B} port={N}",
    '{T} [{P}] LOG:  automatic vacuum of table "prod.public.sale_order": index scans: 1',
  ],
  redis: [
    "{P}:M {T} * Background saving started by pid {N}",
    "{P}:C {T} * DB saved on disk",
    "{P}:M {T} * {A} changes in 60 seconds. Saving...",
    "{P}:M {T} * Background saving terminated with success",
    "{P}:M {T} - Accepted 10.0.{A}.{B}:{N}",
  ],
  odoo: [
    '{T} {P} INFO prod werkzeug: 10.0.{A}.{B} - - [24/Nov/2026 01:02:03] "POST /web/dataset/call_kw HTTP/1.1" 200 - {A} 0.0{B} 0.1{A}',
    "{T} {P} INFO prod odoo.addons.base.models.ir_cron: Starting job `Mail: Email Queue Manager`.",
    "{T} {P} INFO ? odoo.service.server: HTTP service (werkzeug) running on 0.0.0.0:8069",
    "{T} {P} INFO prod odoo.modules.registry: Registry loaded in 0.{A}s",
    "{T} {P} INFO prod odoo.models.unlink: User #{A} deleted ir.attachment records with IDs: [{N}]",
  ],
};

/** Where an example's own timestamp sits, so it can be replaced with a fresh one. */
const TIME_RE: Record<GenService, RegExp> = {
  nginx: /^\d{4}\/\d{2}\/\d{2} \d{2}:\d{2}:\d{2}/,
  postgres: /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?(?: [A-Z]{1,5})?/,
  redis: /(?<=^\d+:[XCSM] )\d{1,2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2}\.\d{3}/,
  odoo: /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3}/,
};

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const p2 = (n: number) => String(n).padStart(2, "0");

export function formatTime(service: GenService, d: Date): string {
  const date = `${d.getUTCFullYear()}-${p2(d.getUTCMonth() + 1)}-${p2(d.getUTCDate())}`;
  const time = `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}`;
  const ms = String(d.getUTCMilliseconds()).padStart(3, "0");
  switch (service) {
    case "nginx":
      return `${date.replaceAll("-", "/")} ${time}`;
    case "postgres":
      return `${date} ${time}.${ms} UTC`;
    case "redis":
      return `${p2(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${time}.${ms}`;
    case "odoo":
      return `${date} ${time},${ms}`;
  }
}

export interface GeneratedLine {
  /** One record: one line, or several joined with "\n" (PostgreSQL DETAIL, Odoo tracebacks). */
  text: string;
  /** The pattern id this record is an example of, or undefined for an ordinary line. */
  patternId: string | undefined;
}

export interface GeneratorOptions {
  errorRate?: number;
  /** Deterministic sequence for a given seed. */
  seed?: number;
  patternsDir?: string;
  /** Only these pattern ids produce errors (default: every pattern with a usable example). */
  only?: string[];
}

/**
 * A function returning the next record of `service`: about `errorRate` of them are pattern
 * examples (cycling through the patterns), the rest ordinary lines. Cheap per call.
 */
export function makeGenerator(
  service: GenService,
  opts: GeneratorOptions = {},
): (now?: Date) => GeneratedLine {
  const sp = loadPatternsDir(opts.patternsDir).get(service);
  if (!sp) throw new Error(`no patterns for ${service}`);
  const timeRe = TIME_RE[service];
  const errors: Array<{ id: string; example: string }> = [];
  for (const p of sp.spec.patterns) {
    if (opts.only && !opts.only.includes(p.id)) continue;
    // Only examples that carry the service's own line header look like lines of its log file.
    const ex = p.examples.find((e) => timeRe.test(e));
    if (ex) errors.push({ id: p.id, example: ex });
  }
  const benign = [...BENIGN[service]];
  let seed = opts.seed ?? 42;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  const rate = opts.errorRate ?? 0.02;
  let n = 0;
  let e = 0;
  let lastSec = -1;
  let stamp = "";
  return (now = new Date()) => {
    n++;
    const sec = Math.floor(now.getTime() / (service === "nginx" ? 1000 : 1));
    if (sec !== lastSec) {
      lastSec = sec;
      stamp = formatTime(service, now);
    }
    if (errors.length > 0 && rand() < rate) {
      const { id, example } = errors[e++ % errors.length]!;
      const text = example.replace(timeRe, stamp).replaceAll(/\*\d+ /g, `*${n} `);
      return { text, patternId: id };
    }
    const t = benign[Math.floor(rand() * benign.length)]!;
    const text = t
      .replace("{T}", stamp)
      .replaceAll("{P}", "4242")
      .replaceAll("{N}", String(n))
      .replaceAll("{A}", String(n % 250))
      .replaceAll("{B}", String((n >> 3) % 250));
    return { text, patternId: undefined };
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rate: { type: "string", default: "100" },
      duration: { type: "string", default: "300" },
      service: { type: "string", default: "nginx" },
      "error-rate": { type: "string", default: "0.02" },
      out: { type: "string" },
    },
  });
  const rate = Number(values.rate);
  const duration = Number(values.duration);
  const services: GenService[] = values.service === "mixed" ? [...SERVICES] : [values.service as GenService];
  if (!services.every((s) => SERVICES.includes(s)))
    throw new Error(`--service must be one of ${SERVICES.join(", ")}, mixed`);
  const gens = services.map((s) => ({
    s,
    next: makeGenerator(s, { errorRate: Number(values["error-rate"]), seed: Date.now() }),
    out: values.out ? (services.length > 1 ? `${values.out}.${s}.log` : values.out) : undefined,
  }));
  for (const g of gens) if (g.out) writeFileSync(g.out, "", { flag: "a" });
  const counts: Record<string, number> = {};
  const start = Date.now();
  let sent = 0;
  // Lines are written in small bursts every 10 ms so the rate is steady at any value.
  while (Date.now() - start < duration * 1000) {
    const due = Math.floor(((Date.now() - start) / 1000) * rate);
    for (; sent < due; sent++) {
      const g = gens[sent % gens.length]!;
      const line = g.next();
      if (line.patternId) counts[line.patternId] = (counts[line.patternId] ?? 0) + 1;
      if (g.out) appendFileSync(g.out, `${line.text}\n`);
      else process.stdout.write(`${line.text}\n`);
    }
    await Bun.sleep(10);
  }
  process.stderr.write(`${JSON.stringify({ lines: sent, errors: counts })}\n`);
}

if (import.meta.main) await main();
