/**
 * Matcher throughput, in records per second, over a mixed corpus per service: about 99% ordinary
 * lines in the service's own format (generated with varying numbers, paths and statements) and 1%
 * error lines taken from the patterns files' examples.
 *
 *   bun bench/match.bench.ts [--lines N]
 *
 * Compared with the reference (strip the header, try every regex in order) to show what the literal
 * prefilter buys. Target: well above 1M records/s per core on ordinary traffic, since matching is
 * only one stage of the collector's 1M lines/s pipeline.
 */

import { createMatcher } from "../collector/match.ts";
import { referenceMatch } from "../core/patterns/check.ts";
import { loadPatternsDir, type ServicePatterns } from "../core/patterns/load.ts";

const pick = <T>(xs: readonly T[], i: number): T => xs[i % xs.length]!;
const ip = (i: number) => `10.0.${(i >> 8) & 255}.${i & 255}`;
const pad = (n: number, w = 2) => String(n).padStart(w, "0");
const clock = (i: number) => `01:${pad((i >> 6) % 60)}:${pad(i % 60)}`;
const PATHS = ["/", "/index.html", "/static/app.js", "/api/v1/orders?page=2", "/web/login", "/favicon.ico"];
const SQL = [
  "SELECT * FROM orders WHERE id = $1",
  "UPDATE stock SET qty = qty - 1 WHERE sku = $1",
  "COMMIT",
  "BEGIN",
];

/** Ordinary (non-error) lines as each server writes them, so the prefilter sees realistic text. */
const ORDINARY: Record<string, (i: number) => string> = {
  nginx: (i) =>
    pick(
      [
        `2026/11/24 ${clock(i)} [info] 1234#1234: *${i} client ${ip(i)} closed keepalive connection`,
        `2026/11/24 ${clock(i)} [info] 1234#1234: *${i} client timed out (110: Connection timed out) while waiting for request, client: ${ip(i)}, server: 0.0.0.0:80`,
        `2026/11/24 ${clock(i)} [notice] 1234#1234: signal process started`,
        `2026/11/24 ${clock(i)} [info] 1234#1234: *${i} recv() failed (104: Connection reset by peer) while waiting for request, client: ${ip(i)}, server: 0.0.0.0:443`,
        `2026/11/24 ${clock(i)} [warn] 1234#1234: *${i} a client request body is buffered to a temporary file /var/lib/nginx/body/00000${i % 1000}, client: ${ip(i)}, server: example.org, request: "POST ${pick(PATHS, i)} HTTP/1.1", host: "example.org"`,
      ],
      i,
    ),
  postgres: (i) =>
    pick(
      [
        `2026-11-24 ${clock(i)}.${pad(i % 1000, 3)} UTC [${4000 + (i % 900)}] LOG:  connection received: host=${ip(i)} port=${50000 + (i % 9999)}`,
        `2026-11-24 ${clock(i)}.${pad(i % 1000, 3)} UTC [${4000 + (i % 900)}] app@shop LOG:  connection authorized: user=app database=shop application_name=psql`,
        `2026-11-24 ${clock(i)}.${pad(i % 1000, 3)} UTC [${4000 + (i % 900)}] app@shop LOG:  duration: ${(i % 97) / 10} ms  statement: ${pick(SQL, i)}`,
        `2026-11-24 ${clock(i)}.${pad(i % 1000, 3)} UTC [42] LOG:  checkpoint starting: time`,
        `2026-11-24 ${clock(i)}.${pad(i % 1000, 3)} UTC [${4000 + (i % 900)}] LOG:  automatic vacuum of table "shop.public.orders": index scans: 1`,
        `2026-11-24 ${clock(i)}.${pad(i % 1000, 3)} UTC [${4000 + (i % 900)}] app@shop LOG:  disconnection: session time: 0:00:0${i % 10}.012 user=app database=shop host=${ip(i)} port=51234`,
      ],
      i,
    ),
  redis: (i) =>
    pick(
      [
        `4242:M 24 Nov 2026 ${clock(i)}.${pad(i % 1000, 3)} * ${i % 100} changes in 60 seconds. Saving...`,
        `4242:M 24 Nov 2026 ${clock(i)}.${pad(i % 1000, 3)} * Background saving started by pid ${5000 + (i % 1000)}`,
        `${5000 + (i % 1000)}:C 24 Nov 2026 ${clock(i)}.${pad(i % 1000, 3)} * DB saved on disk`,
        `${5000 + (i % 1000)}:C 24 Nov 2026 ${clock(i)}.${pad(i % 1000, 3)} * Fork CoW for RDB: current ${i % 7} MB, peak ${i % 9} MB, average ${i % 5} MB`,
        `4242:M 24 Nov 2026 ${clock(i)}.${pad(i % 1000, 3)} * Background saving terminated with success`,
      ],
      i,
    ),
  odoo: (i) =>
    pick(
      [
        `2026-11-24 ${clock(i)},${pad(i % 1000, 3)} ${4300 + (i % 8)} INFO prod werkzeug: ${ip(i)} - - [24/Nov/2026 ${clock(i)}] "GET ${pick(PATHS, i)} HTTP/1.1" 200 - ${i % 50} 0.0${i % 10}0 0.0${i % 7}2`,
        `2026-11-24 ${clock(i)},${pad(i % 1000, 3)} ${4300 + (i % 8)} INFO prod werkzeug: ${ip(i)} - - [24/Nov/2026 ${clock(i)}] "POST /web/dataset/call_kw/sale.order/read HTTP/1.1" 200 - 12 0.010 0.020`,
        `2026-11-24 ${clock(i)},${pad(i % 1000, 3)} ${4300 + (i % 8)} INFO prod odoo.addons.base.models.ir_cron: Starting job \`Mail: Email Queue Manager\`.`,
        `2026-11-24 ${clock(i)},${pad(i % 1000, 3)} ${4300 + (i % 8)} INFO prod odoo.addons.base.models.ir_cron: Job \`Mail: Email Queue Manager\` done.`,
      ],
      i,
    ),
};

function corpus(sp: ServicePatterns, n: number): string[] {
  const gen = ORDINARY[sp.service] ?? ((i: number) => `ordinary line ${i}`);
  const errors = sp.patterns.flatMap((cp) => cp.pattern.examples);
  return Array.from({ length: n }, (_, i) => (i % 100 === 99 ? pick(errors, Math.floor(i / 100)) : gen(i)));
}

/** Median records/s of `rounds` passes over the corpus (a plain loop: tinybench's per-call cost is larger than one match). */
function rate(lines: string[], fn: (l: string) => unknown, rounds = 7): { perSec: number; hits: number } {
  let hits = 0;
  const rates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    hits = 0;
    const t0 = Bun.nanoseconds();
    for (const l of lines) if (fn(l)) hits++;
    rates.push(lines.length / ((Bun.nanoseconds() - t0) / 1e9));
  }
  rates.sort((a, b) => a - b);
  return { perSec: rates[rates.length >> 1]!, hits };
}

function main(): void {
  const argv = process.argv.slice(2);
  const n = argv[0] === "--lines" ? Number(argv[1]) : 200_000;
  if (!Number.isInteger(n) || n <= 0) throw new Error("usage: match.bench.ts [--lines N]");
  const all = loadPatternsDir(null);
  const matcher = createMatcher(all);
  const rows: Record<string, string | number>[] = [];
  for (const sp of all.values()) {
    const lines = corpus(sp, n);
    const fast = rate(lines, (l) => matcher.match(sp.service, l));
    const ref = rate(lines, (l) => referenceMatch(sp, l), 3);
    if (fast.hits !== ref.hits)
      throw new Error(`${sp.service}: matcher found ${fast.hits} matches, reference ${ref.hits}`);
    rows.push({
      service: sp.service,
      patterns: sp.patterns.length,
      lines: lines.length,
      matched: fast.hits,
      "records/s": Math.round(fast.perSec).toLocaleString("en-US"),
      "ns/record": Math.round(1e9 / fast.perSec),
      "reference records/s": Math.round(ref.perSec).toLocaleString("en-US"),
      speedup: `${(fast.perSec / ref.perSec).toFixed(1)}x`,
    });
  }
  console.table(rows);
}

main();
