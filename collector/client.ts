import type { Broker } from "../broker/types.ts";
import type { ClientConfig } from "../core/config/client.ts";
import { errorMessage } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import type { ServicePatterns } from "../core/patterns/load.ts";
import { type HealthResult, resolveHealthCheck, runHealthCheck } from "./health.ts";
import { sendHeartbeat } from "./heartbeat.ts";
import { FileProcessor, type MatchFn, newCounters, type PipelineContext, type RedactFn } from "./pipeline.ts";
import { Shipper } from "./ship.ts";
import type { CommitBatch, StateDb } from "./spool.ts";
import { Tailer } from "./tail/tailer.ts";
import { Waker } from "./tail/watch.ts";
import { newRunnerCounters, tailTelemetry } from "./telemetry.ts";

/** Knobs that are not in the client config (tests and the benchmark turn them). */
export interface CollectorTuning {
  /** Bytes per read (default 64 KiB, see LineReader). */
  chunkBytes?: number;
  /** Bytes read between two commits (default 4 MiB): the most a crash makes us read again. */
  commitBytes?: number;
  /** How long a rotated or deleted file is kept open after its last data (default 5 s). */
  rotateWaitMs?: number;
  /** Flush timeout of open records when the service has no multiline rule (default 1 s). */
  flushMs?: number;
  /**
   * Run a full garbage collection after this many bytes read (default 16 MiB; 0 = never). Every
   * chunk leaves its decoded string behind; left to its own heuristics the engine lets them pile up
   * to about 200 MB of RSS during a 300 MB backlog, and a collector must stay small on the hosts it
   * watches. One collection costs 5-8 ms (measured on the bench: about 10 % of a backlog's time);
   * collecting every 4-8 MiB did not lower the peak further, only the throughput.
   */
  gcEveryBytes?: number;
  /** Send heartbeats and run health checks (default true). */
  heartbeat?: boolean;
}

/** One client (one config: one service on this host) as `status()` shows it. */
export interface ClientStatus {
  client_id: string;
  service: string;
  files: Array<{
    path: string;
    file_id: string;
    offset: number;
    size: number;
    lag_bytes: number;
    detached: boolean;
  }>;
  lag_bytes: number;
  spool_depth: number;
  spool_bytes: number;
  /** True while the spool is full and reading is paused (the log files are the buffer). */
  reading_paused: boolean;
  broker_down: boolean;
  last_error?: string;
  health?: HealthResult;
  counters: Record<string, number>;
}

/**
 * One client's loop: tail → pipeline → spool (one transaction per few MB read) → shipper, plus the
 * heartbeat. Everything but the shipper's and the heartbeat's network calls is synchronous and runs
 * in this loop, so the tailer, the processors and the commit never interleave.
 */
export class ClientRunner {
  private readonly tailer: Tailer;
  private readonly waker: Waker;
  private readonly shipper: Shipper;
  private readonly ctx: PipelineContext;
  private readonly processors = new Set<FileProcessor>();
  private readonly tail = newRunnerCounters();
  private pending: CommitBatch | undefined;
  private paused = false;
  private stopped = false;
  private loopDone: Promise<void> | undefined;
  private hbTimer: ReturnType<typeof setTimeout> | undefined;
  private health: HealthResult | undefined;
  private lastScan = 0;
  private sinceGc = 0;
  private readonly firstStart: boolean;

  constructor(
    readonly config: ClientConfig,
    private readonly sp: ServicePatterns,
    private readonly db: StateDb,
    private readonly broker: Broker,
    deps: {
      match: MatchFn;
      mentions?: (service: string, text: string) => boolean;
      redact: RedactFn;
      log: Logger;
      version: string;
      now: () => number;
      tuning: CollectorTuning;
    },
  ) {
    const c = config;
    this.log = deps.log.child({ client_id: c.client_id, service: c.service_type });
    this.now = deps.now;
    this.tuning = deps.tuning;
    this.version = deps.version;
    this.ctx = {
      clientId: c.client_id,
      host: c.host,
      service: c.service_type,
      match: deps.match,
      ...(deps.mentions ? { mentions: deps.mentions } : {}),
      redact: deps.redact,
      multiline: sp.multiline,
      multilineLimits: { maxBytes: c.multiline.max_bytes, tailLines: c.multiline.tail_lines },
      floodPerSecond: c.flood.max_per_second,
      floodMaxDistinct: c.flood.max_distinct,
      now: deps.now,
      counters: newCounters(),
    };
    this.firstStart = db.getMeta(`started:${c.client_id}`) === undefined;
    const globs = c.log_paths ?? sp.spec.log_paths;
    this.tailer = new Tailer(
      {
        globs,
        maxLineBytes: c.max_line_bytes,
        tailBytes: c.max_line_tail_bytes,
        flushMs: sp.multiline?.flushMs ?? deps.tuning.flushMs ?? 1000,
        partialWaitMs: c.multiline.max_wait_ms,
        // "end" is for the files present at the very first start only: after a restart, a file with
        // no checkpoint appeared while we were away (rotation while down, or opened just before a
        // crash) and every line of it is new.
        firstStartFromEnd: c.read_from === "end" && this.firstStart,
        now: deps.now,
        ...(deps.tuning.chunkBytes ? { chunkBytes: deps.tuning.chunkBytes } : {}),
        ...(deps.tuning.rotateWaitMs !== undefined ? { rotateWaitMs: deps.tuning.rotateWaitMs } : {}),
      },
      db.checkpoints.load(c.client_id),
      (id, path, offset) => {
        const p = new FileProcessor(this.ctx, id, path, offset);
        this.processors.add(p);
        return p;
      },
      tailTelemetry(this.tail, this.log),
    );
    this.waker = new Waker([...new Set(this.tailer.roots.map((r) => r.dir))], c.poll_interval_ms);
    this.shipper = new Shipper(db, broker, {
      clientId: c.client_id,
      stream: broker.keys.errors,
      maxEvents: c.batch.max_events,
      idleMs: Math.max(c.batch.max_wait_ms, 250),
      onError: (err, attempt, where) => {
        if (attempt === 1 || attempt % 20 === 0)
          this.log.warn(
            { err: errorMessage(err), attempt, where },
            `${where} failed; events stay in the spool`,
          );
      },
    });
  }

  private readonly log: Logger;
  private readonly now: () => number;
  private readonly tuning: CollectorTuning;
  private readonly version: string;

  /** First scan and its commit (so `read_from: end` offsets are durable), then the loops. */
  start(): void {
    this.tailer.scan();
    this.lastScan = this.now();
    this.commit(
      this.firstStart ? { [`started:${this.config.client_id}`]: new Date().toISOString() } : undefined,
    );
    this.shipper.start();
    this.loopDone = this.loop();
    if (this.tuning.heartbeat !== false) void this.beat();
  }

  async stop(drainMs: number): Promise<void> {
    this.stopped = true;
    if (this.hbTimer) clearTimeout(this.hbTimer);
    this.waker.close();
    await this.loopDone;
    // Open folds go out with their counts (left open, they hold the checkpoint back and the next
    // start counts again what folds emitted after them held); unfinished lines are read again.
    const now = this.now();
    for (const p of this.processors) p.expire(now, true);
    this.safeCommit();
    await this.shipper.stop(drainMs);
    this.tailer.close();
  }

  status(): ClientStatus {
    const d = this.db.depthOf(this.config.client_id);
    this.tailer.refreshSizes();
    const files = [...this.tailer.files.values()].map((f) => ({
      path: f.path,
      file_id: f.id,
      offset: f.reader.pos,
      size: f.size,
      lag_bytes: Math.max(0, f.size - f.reader.pos),
      detached: f.detached,
    }));
    const s = this.shipper.status;
    const out: ClientStatus = {
      client_id: this.config.client_id,
      service: this.config.service_type,
      files,
      lag_bytes: this.tailer.lag(),
      spool_depth: d.rows,
      spool_bytes: d.bytes,
      reading_paused: this.paused,
      broker_down: s.broker_down,
      counters: {
        ...this.ctx.counters,
        ...this.tail,
        shipped: s.shipped,
        batches: s.batches,
        ship_errors: s.errors,
      },
    };
    if (s.last_error) out.last_error = s.last_error;
    if (this.health) out.health = this.health;
    return out;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      let busy = false;
      try {
        busy = this.step();
      } catch (err) {
        this.log.error({ err: errorMessage(err) }, "collector step failed");
      }
      // A full read budget means more data is waiting: yield to the shipper, then go on.
      await (busy ? Bun.sleep(0) : this.waker.wait());
    }
  }

  /** One round: scan if due, read up to the budget committing every `commitBytes`, flush idle files. */
  private step(): boolean {
    const now = this.now();
    if (now - this.lastScan >= this.config.poll_interval_ms) {
      this.tailer.scan();
      this.waker.rewatch();
      this.lastScan = now;
    }
    if (this.pending && !this.retryPending()) return false;
    const max = this.config.spool.max_bytes;
    const id = this.config.client_id;
    const canRead = () => {
      // Hysteresis: pause at the limit, resume below 90 % so reading does not flap per event.
      const bytes = this.db.depthOf(id).bytes;
      if (!this.paused && bytes >= max) {
        this.paused = true;
        this.log.warn({ spool_bytes: bytes }, "spool full: reading paused until the broker catches up");
      } else if (this.paused && bytes < max * 0.9) {
        this.paused = false;
        this.log.info({ spool_bytes: bytes }, "spool below its limit: reading resumed");
      }
      return !this.paused;
    };
    const commitBytes = this.tuning.commitBytes ?? 4 << 20;
    let total = 0;
    for (let round = 0; round < 4; round++) {
      const n = this.tailer.read(commitBytes, canRead);
      total += n;
      if (!this.safeCommit() || n < commitBytes) break;
    }
    this.sinceGc += total;
    const gcEvery = this.tuning.gcEveryBytes ?? 16 << 20;
    if (gcEvery > 0 && this.sinceGc >= gcEvery) {
      this.sinceGc = 0;
      Bun.gc(true);
    }
    const t = this.now();
    this.tailer.flushIdle(t, this.paused);
    for (const p of this.processors.values()) p.expire(t);
    this.safeCommit();
    return total >= commitBytes;
  }

  private safeCommit(): boolean {
    try {
      this.commit();
      return true;
    } catch (err) {
      this.tail.commit_errors++;
      this.log.error({ err: errorMessage(err) }, "spool commit failed; will retry before reading on");
      return false;
    }
  }

  /**
   * Take the events of every file and the checkpoints they allow, and write both in one
   * transaction. On failure the batch is kept and retried before anything more is read, so no
   * event taken from a processor is lost and no checkpoint runs ahead of its events.
   */
  private commit(meta?: Record<string, string>): void {
    if (this.pending && !this.retryPending()) throw new Error("previous commit still pending");
    const events = [];
    const live = new Set<unknown>();
    for (const f of this.tailer.files.values()) live.add(f.consumer);
    for (const p of this.processors) {
      const e = p.take();
      for (let i = 0; i < e.length; i++) events.push(e[i]!);
      // A closed file's processor gave its last events just now.
      if (!live.has(p)) this.processors.delete(p);
    }
    const { rows, forget } = this.tailer.checkpoints();
    if (events.length === 0 && rows.length === 0 && forget.length === 0 && !meta) return;
    const batch: CommitBatch = { events, checkpoints: rows, forget, ...(meta ? { meta } : {}) };
    this.pending = batch;
    this.retryPending(true);
  }

  private retryPending(rethrow = false): boolean {
    const batch = this.pending;
    if (!batch) return true;
    try {
      this.db.commit(this.config.client_id, batch);
    } catch (err) {
      if (rethrow) throw err;
      return false;
    }
    this.pending = undefined;
    this.tailer.committed(batch.checkpoints);
    if (batch.events.length > 0) this.shipper.notify();
    return true;
  }

  private async beat(): Promise<void> {
    if (this.stopped) return;
    try {
      const check = resolveHealthCheck(this.sp.spec.health_check, this.config.health_check);
      this.health = await runHealthCheck(check);
      const st = this.status();
      await sendHeartbeat(
        this.broker,
        {
          client_id: st.client_id,
          host: this.config.host,
          service_type: st.service,
          version: this.version,
          files: st.files.map(({ path, offset, size, lag_bytes }) => ({ path, offset, size, lag_bytes })),
          lag_bytes: st.lag_bytes,
          spool_depth: st.spool_depth,
          spool_bytes: st.spool_bytes,
          reading_paused: st.reading_paused,
          counters: st.counters,
        },
        this.health,
      );
    } catch (err) {
      this.tail.heartbeat_errors++;
      this.log.warn({ err: errorMessage(err) }, "heartbeat failed");
    }
    if (!this.stopped)
      this.hbTimer = setTimeout(() => void this.beat(), this.config.health_check_interval * 1000);
  }
}
