import { Cluster } from "ioredis";
import type { StreamFields } from "../../core/schemas/codec.ts";
import type { BrokerDurability } from "../types.ts";
import { checkReplicas } from "./append-conn.ts";
import { type Connections, DEFAULT_COMMAND_TIMEOUT_MS, toMcpError, unavailable } from "./connection.ts";
import { notDurable } from "./durability.ts";

const REDIRECT_RETRIES = 5;

/** Every XADD of the batch answered MOVED/ASK/TRYAGAIN/CLUSTERDOWN: none was written. */
function redirected(replies: [Error | null, unknown][], n: number): boolean {
  if (replies.length < n) return false;
  return replies.slice(0, n).every(([err]) => err && /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN)\b/.test(err.message));
}

function refreshSlots(c: Cluster): Promise<void> {
  return new Promise((resolve) => c.refreshSlotsCache(() => resolve()));
}

/** How long a durability probe's answer is trusted: a failover may promote a node with another config. */
const PROBE_TTL_MS = 60_000;

/**
 * Appends through ioredis, for Sentinel and Cluster, where the dedicated socket (append-conn.ts)
 * steps aside: it speaks to one fixed node, while ioredis follows MOVED/ASK, refreshes the slot
 * map and finds the new master after a failover. One pipeline per batch; on a cluster every XADD
 * of a batch has the same key, so the whole pipeline goes to one node, and with broker.durable
 * the WAITAOF and WAIT that follow it (no key) ride to that same node.
 */
export class PipelineAppends {
  private probed: { at: number; d: BrokerDurability } | null = null;

  constructor(
    private readonly conn: Connections,
    private readonly probe?: () => Promise<BrokerDurability>,
    private readonly commandMs = DEFAULT_COMMAND_TIMEOUT_MS,
    private readonly waitReplicas = 0,
  ) {}

  async append(stream: string, entries: StreamFields[], maxLen?: number): Promise<string[]> {
    const waitAof = this.probe ? (await this.durability()).mode === "waitaof" : false;
    const cap = maxLen === undefined ? [] : ["MAXLEN", "~", String(maxLen)];
    const ms = String(Math.max(100, this.commandMs - 500));
    const send = () =>
      this.conn.run("append", async (r) => {
        const p = r.pipeline();
        for (const e of entries) p.call("XADD", stream, ...cap, "*", ...Object.entries(e).flat());
        if (waitAof) p.call("WAITAOF", "1", "0", ms);
        if (this.waitReplicas > 0) p.call("WAIT", String(this.waitReplicas), ms);
        return { r, replies: (await p.exec()) ?? [] };
      });
    let { r, replies } = await send();
    // ioredis re-sends a cluster pipeline after MOVED only when every reply is that same error;
    // the WAIT(AOF) at the end answers without one, so after a failover the batch would bounce
    // off the old slot map forever. When every XADD was redirected nothing was written: refresh
    // the map and send again, a few times (a failover takes a moment to settle).
    for (let attempt = 0; attempt < REDIRECT_RETRIES && redirected(replies, entries.length); attempt++) {
      if (r instanceof Cluster) await refreshSlots(r);
      await Bun.sleep(50 * (attempt + 1));
      ({ r, replies } = await send());
    }
    const ids: string[] = [];
    for (const [err, id] of replies.slice(0, entries.length)) {
      // One failed XADD rejects the batch, as on the append socket: the caller retries it all.
      if (err) throw toMcpError("append", err);
      ids.push(String(id));
    }
    if (ids.length !== entries.length) throw unavailable("append", "pipeline answered short");
    if (waitAof) {
      const [err, reply] = replies[entries.length] ?? [new Error("no WAITAOF reply"), null];
      if (err || !Array.isArray(reply) || Number(reply[0]) < 1)
        throw unavailable("append", `WAITAOF: the local AOF fsync was not confirmed within ${ms} ms`);
    }
    if (this.waitReplicas > 0) {
      const [err, reply] = replies[entries.length + (waitAof ? 1 : 0)] ?? [new Error("no WAIT reply"), null];
      if (err) throw toMcpError("append", err);
      checkReplicas(reply, this.waitReplicas, ms);
    }
    return ids;
  }

  private async durability(): Promise<BrokerDurability> {
    if (this.probed && Date.now() - this.probed.at < PROBE_TTL_MS) return this.probed.d;
    const d = await (this.probe as () => Promise<BrokerDurability>)();
    if (d.mode === "none") throw notDurable(d);
    this.probed = { at: Date.now(), d };
    return d;
  }
}
