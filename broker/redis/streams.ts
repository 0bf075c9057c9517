import { encode } from "../../core/schemas/codec.ts";
import { deadLetterOf } from "../consumer-group.ts";
import { DEFAULT_CAPS, DEFAULT_TRIM_KEEP, type Keys } from "../keys.ts";
import type {
  ClaimResult,
  Delivery,
  ReadGroupOptions,
  StreamEntry,
  StreamStats,
  StreamsPort,
} from "../types.ts";
import type { AppendConn } from "./append-conn.ts";
import { type Connections, toMcpError } from "./connection.ts";
import {
  claimReply,
  consumersInfo,
  deliveriesOf,
  entriesOf,
  groupsInfo,
  oldestIdle,
  readReply,
  streamInfo,
} from "./parse.ts";
import type { PipelineAppends } from "./pipeline-append.ts";
import { runScript } from "./scripts/script.ts";
import { CLAIM, DEAD_LETTER, READ_OWN, REMOVE_CONSUMERS, TOUCH, TRIM_ACKED } from "./scripts/streams.ts";

const DEFAULT_COUNT = 100;
const TOUCH_CHUNK = 500;

/** The Streams half of the Redis broker. */
export function redisStreams(
  conn: Connections,
  keys: Keys,
  appends: AppendConn,
  pipelined: PipelineAppends,
): StreamsPort {
  return {
    async append(stream, entries, opts) {
      if (entries.length === 0) return [];
      // On a single Redis not through ioredis: its per-command overhead halved append throughput
      // (append-conn.ts). That socket talks to one node, so on Sentinel and Cluster ioredis does it.
      if ((await conn.topology("append")) !== "single") {
        return await pipelined.append(stream, entries, opts?.maxLen);
      }
      return await appends.append(stream, entries, opts?.maxLen);
    },

    async ensureGroup(stream, group, startId = "$") {
      await conn.run("ensureGroup", async (r) => {
        try {
          await r.xgroup("CREATE", stream, group, startId, "MKSTREAM");
        } catch (err) {
          if (!String((err as Error)?.message).startsWith("BUSYGROUP")) throw err;
        }
      });
    },

    async readGroup(stream, group, consumer, opts: ReadGroupOptions = {}) {
      const count = opts.count ?? DEFAULT_COUNT;
      if (opts.from === "0") {
        return await conn.run("readGroup", async (r) =>
          deliveriesOf(await runScript(r, READ_OWN, [stream], [group, consumer, count])),
        );
      }
      const args = ["GROUP", group, consumer, "COUNT", String(count)];
      const once = async (r: Parameters<Parameters<Connections["run"]>[1]>[0], block?: number) => {
        const extra = block ? ["BLOCK", String(block)] : [];
        const raw = await r.call("XREADGROUP", ...args, ...extra, "STREAMS", stream, ">");
        return readReply(raw).map((e): Delivery => ({ ...e, deliveries: 1 }));
      };
      if (!opts.blockMs) return await conn.run("readGroup", (r) => once(r));
      return await conn.blocking("readGroup", [] as Delivery[], (r) => once(r, opts.blockMs));
    },

    async ack(stream, group, ids) {
      if (ids.length === 0) return 0;
      return await conn.run("ack", (r) => r.xack(stream, group, ...ids));
    },

    async claimIdle(stream, group, consumer, minIdleMs, opts = {}): Promise<ClaimResult> {
      const args = [
        group,
        consumer,
        Math.max(0, Math.floor(minIdleMs)),
        opts.start ?? "0-0",
        opts.count ?? DEFAULT_COUNT,
      ];
      return await conn.run("claimIdle", async (r) => claimReply(await runScript(r, CLAIM, [stream], args)));
    },

    async touch(stream, group, consumer, ids) {
      let n = 0;
      // Chunks keep each script call short (it blocks the server) and within Lua's unpack limit.
      for (let i = 0; i < ids.length; i += TOUCH_CHUNK) {
        const chunk = ids.slice(i, i + TOUCH_CHUNK);
        n += await conn.run("touch", async (r) =>
          Number(await runScript(r, TOUCH, [stream], [group, consumer, ...chunk])),
        );
      }
      return n;
    },

    async removeConsumers(stream, group, opts) {
      const idle = opts.idleMs === undefined ? -1 : Math.max(0, Math.floor(opts.idleMs));
      const args = [group, idle, ...(opts.names ?? [])];
      const raw = await conn.run("removeConsumers", (r) => runScript(r, REMOVE_CONSUMERS, [stream], args));
      return Array.isArray(raw) ? raw.map(String) : [];
    },

    async deadLetter(stream, group, entry, reason) {
      const letter = deadLetterOf(stream, group, entry, reason);
      const { type, data } = encode("dead_letter", letter);
      return await conn.run("deadLetter", async (r) =>
        String(
          await runScript(
            r,
            DEAD_LETTER,
            [keys.dlq, stream],
            [group, entry.id, type ?? "dead_letter", data ?? "", DEFAULT_CAPS.dlq],
          ),
        ),
      );
    },

    async range(stream, start = "-", end = "+", count) {
      return await conn.run("range", async (r) => {
        const raw =
          count === undefined
            ? await r.xrange(stream, start, end)
            : await r.xrange(stream, start, end, "COUNT", count);
        return entriesOf(raw);
      });
    },

    async read(stream, afterId, opts = {}) {
      const head = ["COUNT", String(opts.count ?? DEFAULT_COUNT)];
      if (!opts.blockMs) {
        return await conn.run("read", async (r) =>
          readReply(await r.call("XREAD", ...head, "STREAMS", stream, afterId)),
        );
      }
      const block = ["BLOCK", String(opts.blockMs)];
      return await conn.blocking("read", [] as StreamEntry[], async (r) =>
        readReply(await r.call("XREAD", ...head, ...block, "STREAMS", stream, afterId)),
      );
    },

    async trimAcked(stream, opts = {}) {
      const keep = Math.max(0, Math.floor(opts.keep ?? DEFAULT_TRIM_KEEP));
      return await conn.run("trimAcked", async (r) =>
        Number(await runScript(r, TRIM_ACKED, [stream], [keep])),
      );
    },

    async clear(stream) {
      // XTRIM keeps the key, its groups and their PELs (pending ids then show up as deleted).
      return await conn.run("clear", async (r) => Number(await r.xtrim(stream, "MAXLEN", 0)));
    },

    async stats(stream): Promise<StreamStats> {
      return await conn.run("stats", async (r) => {
        let info: unknown;
        try {
          info = await r.call("XINFO", "STREAM", stream);
        } catch (err) {
          // A stream that was never written is reported empty, not as an error.
          if (/no such key/i.test(String((err as Error)?.message))) {
            return { name: stream, length: 0, first_id: null, last_id: null, groups: [] };
          }
          throw err;
        }
        const rawGroups = groupsInfo(await r.call("XINFO", "GROUPS", stream));
        const p = r.pipeline();
        for (const g of rawGroups) {
          p.call("XINFO", "CONSUMERS", stream, g.name);
          p.xpending(stream, g.name, "-", "+", 1);
        }
        const replies = (await p.exec()) ?? [];
        const groups = rawGroups.map((g, i) => {
          const [cErr, cons] = replies[2 * i] ?? [null, []];
          const [pErr, pend] = replies[2 * i + 1] ?? [null, []];
          if (cErr || pErr) throw toMcpError("stats", cErr ?? pErr);
          return {
            ...g,
            consumers: consumersInfo(cons),
            oldest_pending_ms: g.pending ? oldestIdle(pend) : 0,
          };
        });
        return { name: stream, ...streamInfo(info), groups };
      });
    },
  };
}
