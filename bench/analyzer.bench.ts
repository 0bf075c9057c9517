/**
 * Analyzer benchmark.
 *
 *   bun bench/analyzer.bench.ts [--events 10000]
 *
 * 1. Hot path, in-process: events/s through redaction + header strip + template mining + rule lookup
 *    (what every event costs before any broker round trip).
 * 2. Whole analyzer on the embedded broker (in memory) with the fake Messages API (loopback): a mixed
 *    load of the error generator's records (all four services), events/s to drain the stream,
 *    Claude requests and tokens per N events; then the same error mix again under new event ids,
 *    where rules, incidents and the cache must answer everything (0 requests).
 */
import { parseArgs } from "node:util";
import { readTokenStatus, remediationFields, ruleProposal, startAnalyzers } from "../analyzer/index.ts";
import { TemplateMiner } from "../analyzer/templates/miner.ts";
import { createEmbeddedBroker } from "../broker/index.ts";
import { stableId } from "../core/ids.ts";
import { silentLogger } from "../core/log.ts";
import { matchPattern } from "../core/patterns/check.ts";
import { stripHeader } from "../core/patterns/header.ts";
import { loadPatternsDir } from "../core/patterns/index.ts";
import { redact } from "../core/redact/index.ts";
import type { ErrorEvent } from "../core/schemas/error-event.ts";
import { startFakeAnthropic } from "../test/fakes/anthropic.ts";
import { appendEvents, drained, testConfig, waitFor } from "../test/fixtures/analyzer-events.ts";
import { makeGenerator, SERVICES } from "./error-generator.ts";

const { values } = parseArgs({ options: { events: { type: "string", default: "10000" } } });
const N = Number(values.events);
const patterns = loadPatternsDir();

/** N matched records of the generator's mixed load, as the collector would ship them. */
function mixedLoad(run: string): ErrorEvent[] {
  const gens = SERVICES.map((s) => [s, makeGenerator(s, { errorRate: 1, seed: 7 })] as const);
  const out: ErrorEvent[] = [];
  for (let i = 0; out.length < N; i++) {
    const [service, gen] = gens[i % gens.length]!;
    const line = gen();
    if (!line.patternId) continue;
    const sp = patterns.get(service)!;
    const cp = sp.patterns.find((p) => p.pattern.id === line.patternId)!;
    const fields = matchPattern(cp, line.text, stripHeader(sp, line.text).message) ?? {};
    const host = `${service}-${i % 10}`;
    out.push({
      v: 1,
      event_id: `ev_${stableId(run, i)}`,
      client_id: `c-${host}`,
      host,
      service,
      time: new Date().toISOString(),
      pattern_id: line.patternId,
      severity: cp.pattern.severity,
      category: cp.pattern.category,
      message: line.text,
      fields,
      count: 1,
    });
  }
  return out;
}

function hotPath(events: ErrorEvent[]): number {
  let best = 0;
  for (let rep = 0; rep < 3; rep++) {
    const miners = new Map<string, TemplateMiner>();
    const t0 = performance.now();
    for (const e of events) {
      const sp = patterns.get(e.service);
      const text = redact(e.message).text;
      let m = miners.get(e.service);
      if (!m) {
        m = new TemplateMiner({ service: e.service });
        miners.set(e.service, m);
      }
      m.add(sp ? stripHeader(sp, text).message : text, e.pattern_id);
      const p = sp?.patterns.find((x) => x.pattern.id === e.pattern_id)?.pattern;
      remediationFields(p);
      ruleProposal(p, e.fields ?? {});
    }
    best = Math.max(best, events.length / ((performance.now() - t0) / 1000));
  }
  return best;
}

const rows: Array<[string, string]> = [];
const first = mixedLoad("first");
rows.push([
  "hot path (redact + strip + mine + rules), events/s",
  Math.round(hotPath(first)).toLocaleString("en"),
]);

const fake = await startFakeAnthropic();
const broker = createEmbeddedBroker({ path: ":memory:", pollMs: 5 });
const config = testConfig({
  claude: { base_url: fake.url, batch_wait_ms: 200 },
  token_limits: { batch_size: 5, max_tokens_per_minute: 10_000_000 },
  processing: { error_processors: 3 },
});
const a = await startAnalyzers({ broker, config, apiKey: "sk-ant-bench", patterns, log: silentLogger });

async function pass(events: ErrorEvent[]) {
  const req0 = fake.requests.length;
  const t0 = performance.now();
  await appendEvents(broker, events);
  await waitFor("drained", () => drained(broker), 600_000);
  const s = (performance.now() - t0) / 1000;
  return { rate: events.length / s, requests: fake.requests.length - req0 };
}

const p1 = await pass(first);
const p2 = await pass(mixedLoad("second"));
await a.stop();
const st = await readTokenStatus(broker, config);
const incidents = (await broker.listRecords("incident")).length;
rows.push(
  [`whole analyzer, first ${N} events (embedded broker), events/s`, Math.round(p1.rate).toLocaleString("en")],
  [`  incidents created`, String(incidents)],
  [`  Claude requests per ${N} events`, String(p1.requests)],
  [
    `  tokens: input / cache write / cache read / output`,
    `${st.input_tokens} / ${st.cache_write_tokens} / ${st.cache_read_tokens} / ${st.output_tokens}`,
  ],
  [`  rule hits / cache hits`, `${st.rule_hits} / ${st.cache_hits}`],
  [`  estimated cost (USD, ${config.claude.model})`, st.estimated_cost_usd.toFixed(4)],
  [`same error mix again (new event ids), events/s`, Math.round(p2.rate).toLocaleString("en")],
  [`  Claude requests`, String(p2.requests)],
);
const w = Math.max(...rows.map((r) => r[0].length));
console.log(`\nanalyzer benchmark (${N} events, mixed load of ${SERVICES.join(", ")})\n`);
for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v}`);
await broker.close();
await fake.stop();
