/**
 * A dedicated connection for XADD batches only. Through ioredis, a batch of 100 spent most of its
 * CPU building one Command per XADD and decoding RESP3 (0.3–0.45x redis-benchmark at depth 100);
 * here a batch is encoded into one reused buffer, written once, and only the reply shapes of XADD,
 * AUTH and SELECT are parsed (bench/broker.bench.ts). Reads, groups and scripts stay on ioredis.
 *
 * Invariants: RESP replies come in request order, so batches wait in a FIFO and the head takes the
 * next reply; a batch settles only once all its replies arrived, so the FIFO never shifts; anything
 * that breaks the stream (close, protocol error, an overdue reply) rejects every batch in flight
 * with BROKER_UNAVAILABLE and drops the socket, and the next append reconnects.
 *
 * With `durable`, every new socket first asks `probe` how appends can be made durable (see
 * durability.ts) and refuses to carry any if they cannot; on Redis 7.2+ each batch is followed by
 * WAITAOF 1 0, and the batch resolves only once Redis reports the AOF holding it fsynced.
 */
import type { Socket, TLSOptions } from "bun";
import { isMcpError } from "../../core/errors.ts";
import type { StreamFields } from "../../core/schemas/codec.ts";
import type { BrokerDurability } from "../types.ts";
import {
  DEFAULT_COMMAND_TIMEOUT_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  type RedisBrokerOptions,
  toMcpError,
  unavailable,
} from "./connection.ts";
import { notDurable } from "./durability.ts";
import { parseRedisUrl } from "./url.ts";
import { XaddEncoder } from "./xadd-encoder.ts";

export { XaddEncoder } from "./xadd-encoder.ts";

interface Batch {
  left: number;
  replies: string[];
  /** The first error reply; the later replies are still consumed to keep the FIFO aligned. */
  error: string | undefined;
  resolve(replies: string[]): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

export class AppendConn {
  private readonly host: string;
  private readonly port: number;
  private readonly tls: TLSOptions | boolean;
  /** AUTH and SELECT from the URL (RESP2, no HELLO), sent on every new socket before any XADD. */
  private readonly handshake: string[][] = [];
  private readonly connectMs: number;
  private readonly commandMs: number;
  /** The open socket; `ready` is the same socket once the handshake succeeded (XADDs wait for it). */
  private socket: Socket | null = null;
  private ready: Socket | null = null;
  private connecting: Promise<Socket> | null = null;
  private readonly inflight: Batch[] = [];
  /** Unparsed tail of the last chunk (a reply split across reads), latin1 like `onData`'s text. */
  private rest: string | null = null;
  /** Bytes the kernel did not take yet (socket.write is unbuffered); written on drain. */
  private out: Buffer | null = null;
  private last: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly encoder = new XaddEncoder();
  /** broker.wait_replicas: each batch is followed by WAIT N (the replicas that must hold it). */
  private readonly waitReplicas: number;
  /** Follow each batch with WAITAOF (decided per socket by the probe). */
  private waitAof = false;
  /** Inside an array reply (WAITAOF's): elements still to come, and those read. */
  private arrayLeft = 0;
  private arrayItems: string[] = [];

  constructor(
    opts: RedisBrokerOptions,
    private readonly probe?: () => Promise<BrokerDurability>,
  ) {
    // Only used on a single Redis (streams.ts asks the topology first); the first node of a
    // cluster or sentinel URL is parsed all the same so that constructing it never throws.
    const t = parseRedisUrl(opts.url);
    this.host = t.nodes[0]?.host || "127.0.0.1";
    this.port = t.nodes[0]?.port ?? 6379;
    // ioredis takes node:tls options; Bun's TLSOptions use the same names (servername is an alias).
    this.tls = t.tls ? ((opts.tls as TLSOptions | undefined) ?? true) : false;
    // As in ioredis: a password alone authenticates the default user (requirepass).
    if (t.password) this.handshake.push(t.username ? ["AUTH", t.username, t.password] : ["AUTH", t.password]);
    if (t.db !== undefined) this.handshake.push(["SELECT", String(t.db)]);
    this.waitReplicas = Math.max(0, Math.floor(opts.waitReplicas ?? 0));
    this.connectMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.commandMs = opts.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  }

  /** XADD each entry to `key` (with `MAXLEN ~ maxLen` when given); resolves with the ids in order. */
  async append(key: string, entries: StreamFields[], maxLen?: number): Promise<string[]> {
    if (this.closed) throw unavailable("append", "broker is closed");
    const head =
      maxLen === undefined ? ["XADD", key, "*"] : ["XADD", key, "MAXLEN", "~", String(maxLen), "*"];
    const socket = this.ready ?? (await this.connect());
    if (this.closed) throw unavailable("append", "broker is closed");
    const waitAof = this.waitAof;
    const replicas = this.waitReplicas;
    const done = this.expect(entries.length + (waitAof ? 1 : 0) + (replicas > 0 ? 1 : 0));
    // Encoded only now, right before the write: the encoder reuses one buffer for every batch.
    this.push(socket, this.encoder.encode(head, entries));
    if (!waitAof && replicas === 0) return await done;
    // Bounded below the batch's own timer, so a slow disk fails the batch rather than the socket.
    const ms = String(Math.max(100, this.commandMs - 500));
    if (waitAof) this.push(socket, Buffer.from(resp(["WAITAOF", "1", "0", ms])));
    if (replicas > 0) this.push(socket, Buffer.from(resp(["WAIT", String(replicas), ms])));
    const replies = await done;
    if (replicas > 0) checkReplicas(replies.pop(), replicas, ms);
    if (waitAof) {
      const [local] = (replies.pop() ?? "").split(" ");
      if (local !== "1")
        throw unavailable("append", `WAITAOF: the local AOF fsync was not confirmed within ${ms} ms`);
    }
    return replies;
  }

  /** Refuse new appends, let those in flight settle (each is bounded by its timer), then hang up. */
  async close(): Promise<void> {
    this.closed = true;
    await this.connecting?.catch(() => {});
    await this.last.catch(() => {});
    const s = this.socket;
    this.socket = this.ready = null;
    s?.end();
  }

  private connect(): Promise<Socket> {
    this.connecting ??= this.open().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  /** Connect and handshake, bounded together by connectTimeoutMs. */
  private async open(): Promise<Socket> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let timedOut = false;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        reject(new Error(`not connected after ${this.connectMs} ms`));
      }, this.connectMs);
    });
    const dial = Bun.connect({
      hostname: this.host,
      port: this.port,
      tls: this.tls,
      socket: {
        // Set synchronously here, so a close that races the promise is already seen by onClose.
        open: (s) => {
          if (timedOut) s.terminate();
          else this.socket = s;
        },
        data: (s, chunk) => this.onData(s, chunk),
        drain: (s) => {
          if (this.out && s === this.socket) this.write(s, this.out);
        },
        end: (s) => this.onClose(s, "server closed the connection"),
        close: (s, err) => this.onClose(s, err?.message ?? "connection closed"),
        error: (s, err) => this.onClose(s, err.message),
        connectError: () => {}, // `dial` rejects with the same error
      },
    });
    try {
      const socket = await Promise.race([dial, timeout]);
      if (this.handshake.length > 0) {
        const replies = this.expect(this.handshake.length);
        this.push(socket, Buffer.from(this.handshake.map(resp).join("")));
        await Promise.race([replies, timeout]);
      }
      if (this.probe) {
        const d = await Promise.race([this.probe(), timeout]);
        if (d.mode === "none") throw notDurable(d);
        this.waitAof = d.mode === "waitaof";
      }
      this.ready = socket;
      return socket;
    } catch (err) {
      // A refused AUTH, a bad db or a dead host: an outage to retry later, as with ioredis.
      // A server that is not durable enough stays refused until its config changes.
      const down = isMcpError(err, "BROKER_NOT_DURABLE")
        ? err
        : unavailable("append", `${this.host}:${this.port}: ${(err as Error).message}`, err);
      this.fail(down);
      throw down;
    } finally {
      clearTimeout(timer);
    }
  }

  private expect(replies: number): Promise<string[]> {
    const p = new Promise<string[]>((resolve, reject) => {
      const overdue = () => this.fail(unavailable("append", `no reply within ${this.commandMs} ms`));
      const timer = setTimeout(overdue, this.commandMs);
      this.inflight.push({ left: replies, replies: [], error: undefined, resolve, reject, timer });
    });
    this.last = p;
    return p;
  }

  /** Queue behind unwritten bytes, or write now. */
  private push(socket: Socket, payload: Buffer): void {
    if (this.out) {
      this.out = Buffer.concat([this.out, payload]);
      return;
    }
    this.write(socket, payload);
    // A partial write leaves a view of the encoder's buffer, which the next batch overwrites.
    if (this.out) this.out = Buffer.from(this.out);
  }

  /** What the kernel did not take waits in `out` (a view of `buf`) for the drain event. */
  private write(socket: Socket, buf: Buffer): void {
    const n = socket.write(buf);
    // -1: the socket is closing, and its close event fails the batches.
    this.out = n >= 0 && n < buf.length ? buf.subarray(n) : null;
  }

  /**
   * Chunks are decoded as latin1, so string offsets equal byte offsets (bulk lengths count bytes)
   * and one native call covers the whole chunk. Ids and OK are ASCII; error lines are re-decoded.
   */
  private onData(socket: Socket, chunk: Buffer): void {
    if (socket !== this.socket) return;
    const text = this.rest === null ? chunk.toString("latin1") : this.rest + chunk.toString("latin1");
    let pos = 0;
    for (let eol = text.indexOf("\r\n"); eol >= 0; eol = text.indexOf("\r\n", pos)) {
      const type = text[pos];
      if (type === "$") {
        const len = Number(text.slice(pos + 1, eol));
        if (!Number.isInteger(len)) {
          this.fail(unavailable("append", "malformed bulk reply"));
          return;
        }
        if (len < 0) {
          pos = eol + 2;
          this.reply(undefined, "unexpected nil reply");
        } else {
          if (eol + 4 + len > text.length) break; // the rest of this bulk string is still on its way
          pos = eol + 4 + len;
          this.reply(text.slice(eol + 2, eol + 2 + len));
        }
      } else if (type === "+" || type === "-" || type === ":") {
        const line = text.slice(pos + 1, eol);
        pos = eol + 2;
        if (type !== "-") this.reply(line);
        else this.reply(undefined, Buffer.from(line, "latin1").toString("utf8"));
      } else if (type === "*" && this.arrayLeft === 0) {
        // Only WAITAOF's flat array of integers is expected: its elements become one reply.
        const n = Number(text.slice(pos + 1, eol));
        pos = eol + 2;
        if (n > 0) this.arrayLeft = n;
        else this.reply("");
      } else {
        this.fail(unavailable("append", `unexpected reply type ${JSON.stringify(type)}`));
        return;
      }
      if (socket !== this.socket) return; // that reply failed the connection
    }
    this.rest = pos < text.length ? text.slice(pos) : null;
  }

  private reply(value: string | undefined, error?: string): void {
    if (this.arrayLeft > 0) {
      this.arrayItems.push(value ?? `ERR ${error}`);
      if (--this.arrayLeft > 0) return;
      value = this.arrayItems.join(" ");
      this.arrayItems = [];
    }
    const b = this.inflight[0];
    if (!b) {
      this.fail(unavailable("append", "reply without a request"));
      return;
    }
    if (error !== undefined) b.error ??= error;
    else b.replies.push(value as string);
    if (--b.left > 0) return;
    this.inflight.shift();
    clearTimeout(b.timer);
    if (b.error === undefined) b.resolve(b.replies);
    // One failed XADD (e.g. OOM midway) rejects the batch, as the ioredis pipeline did: the caller
    // retries it and downstream drops duplicates by event id. toMcpError keeps WRONGTYPE etc. apart.
    else b.reject(toMcpError("append", new Error(b.error)));
  }

  private onClose(socket: Socket, why: string): void {
    if (socket === this.socket) this.fail(unavailable("append", why));
  }

  /** Drop the socket and reject every batch in flight: their replies can no longer be matched. */
  private fail(err: Error): void {
    const s = this.socket;
    this.socket = this.ready = null;
    this.rest = this.out = null;
    this.arrayLeft = 0;
    this.arrayItems = [];
    s?.terminate();
    for (const b of this.inflight.splice(0)) {
      clearTimeout(b.timer);
      b.reject(err);
    }
  }
}

/**
 * WAIT's reply is how many replicas acknowledged the writes before it. Fewer than asked: the batch
 * is in Redis but might not survive a failover, so it is not acknowledged to the caller (who
 * retries; downstream drops the duplicate by event id).
 */
export function checkReplicas(reply: unknown, wanted: number, ms: string): void {
  const got = Number(reply);
  if (!(got >= wanted))
    throw unavailable(
      "append",
      `WAIT: ${Number.isFinite(got) ? got : 0} of ${wanted} replicas acknowledged within ${ms} ms`,
    );
}

/** One command as a RESP array (the handshake; XADDs go through XaddEncoder). */
function resp(args: string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`;
}
