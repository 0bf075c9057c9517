// Helpers for test/collector-real-servers.test.ts: a collector over an in-memory embedded broker
// that tails real servers' own log files, and a redis-server run as an unprivileged user (root
// writes into any folder, so a save into a read-only folder fails only for a server that is not root).
import { chmodSync, chownSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createEmbeddedBroker } from "../broker/index.ts";
import { type CollectorHandle, runCollector } from "../collector/index.ts";
import { loadPatternsDir, type MultilineRule } from "../core/patterns/load.ts";
import type { ErrorEvent } from "../core/schemas/error-event.ts";
import { clientConfig } from "./fixtures/collector-util.ts";
import { canConnect, findProgram, freePort, tempDir, waitFor } from "./harness/index.ts";

export const patterns = loadPatternsDir(join(import.meta.dir, "../patterns"));

export interface RealCollector {
  collector: CollectorHandle;
  /** Every event in the broker's mcp:errors, decoded, oldest first. */
  events(): Promise<ErrorEvent[]>;
  /** Wait for (and return) the first event of `patternId` for which `pred` holds. */
  waitForEvent(patternId: string, pred?: (e: ErrorEvent) => boolean, what?: string): Promise<ErrorEvent>;
  /**
   * Wait until every record now in the log files has been through the pipeline (the records counter
   * equals the records the multiline rule makes of the file) and every event produced is in the
   * broker: after it, an event that is not there was never going to be.
   */
  waitUntilAllShipped(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The real collector path (tail → multiline → match → redact → spool → ship) over each server's log
 * file, shipping into an in-memory embedded broker. Logs are read from their beginning, so lines a
 * server wrote at its start (Redis's overcommit warning) are seen too.
 */
export async function collectLogs(
  clients: Array<{ client_id: string; service: string; logFile: string }>,
): Promise<RealCollector> {
  const tmp = tempDir("mcpmon-real-collector-");
  const broker = createEmbeddedBroker({ path: ":memory:" });
  const configs = clients.map((c) =>
    clientConfig({
      client_id: c.client_id,
      service_type: c.service,
      log_paths: [c.logFile],
      state_dir: join(tmp.path, c.client_id),
      batch: { max_events: 100, max_wait_ms: 20 },
    }),
  );
  const collector = await runCollector(configs, { broker, patterns, tuning: { heartbeat: false } });
  const events = async () =>
    (await broker.range(broker.keys.errors)).map((e) => JSON.parse(e.fields.data!) as ErrorEvent);
  return {
    collector,
    events,
    async waitForEvent(patternId, pred = () => true, what = patternId) {
      let found: ErrorEvent | undefined;
      await waitFor(
        `${what} in mcp:errors`,
        async () => {
          found = (await events()).find((e) => e.pattern_id === patternId && pred(e));
          return found !== undefined;
        },
        20_000,
        50,
      );
      return found!;
    },
    async waitUntilAllShipped() {
      await waitFor(
        "every record of the logs read and every event shipped",
        async () => {
          const st = collector.status();
          let produced = 0;
          for (const c of clients) {
            const cs = st.clients.find((x) => x.client_id === c.client_id)!;
            const expected = countRecords(
              readFileSync(c.logFile, "utf8"),
              patterns.get(c.service)!.multiline,
            );
            if (cs.counters.records !== expected || cs.spool_depth !== 0) return false;
            produced += cs.counters.events ?? 0;
          }
          return (await events()).length === produced;
        },
        20_000,
        50,
      );
    },
    async stop() {
      await collector.stop({ drainMs: 0 });
      await broker.close();
      tmp.cleanup();
    },
  };
}

/** Records the multiline rule makes of a file's complete lines (collector/multiline.ts's rule). */
function countRecords(text: string, rule: MultilineRule | undefined): number {
  const lines = text.split("\n").slice(0, -1);
  const continues = (line: string) =>
    rule?.continue?.test(line) === true || (rule?.start !== undefined && !rule.start.test(line));
  return lines.filter((line, i) => i === 0 || !continues(line)).length;
}

export interface UnprivilegedRedis {
  port: number;
  /** Its data folder (owned by `nobody`); chmod it 0555 and a save fails with EACCES. */
  dataDir: string;
  logFile: string;
  stop(): Promise<void>;
}

/**
 * redis-server as `nobody:nogroup` (setpriv execs, so the pid we hold is the server), data and log
 * folders owned by that user, `save` as given (a save point makes a failed save refuse writes with
 * MISCONF). Killed by a reaper shell if this process dies without stop().
 */
export async function startUnprivilegedRedis(opts: { save?: string } = {}): Promise<UnprivilegedRedis> {
  const server = findProgram("redis-server");
  if (!server) throw new Error("redis-server not found (apt-get install redis-server)");
  const tmp = tempDir("mcpmon-redis-nobody-");
  chmodSync(tmp.path, 0o755);
  const dataDir = join(tmp.path, "data");
  const logDir = join(tmp.path, "log");
  for (const d of [dataDir, logDir]) {
    mkdirSync(d, { mode: 0o755 });
    chownSync(d, uid("nobody"), gid("nogroup"));
  }
  const logFile = join(logDir, "redis.log");
  // Reads "pid port" lines; on EOF (we died) it kills those still showing our address.
  const reaper = Bun.spawn(
    [
      "sh",
      "-c",
      `trap "" INT TERM HUP; p=""; while read -r x y; do p="$p $x:$y"; done
       for e in $p; do x=\${e%%:*}; y=\${e#*:}; grep -qsaF -- "127.0.0.1:$y" /proc/$x/cmdline && kill -9 $x; done
       sleep 1; rm -rf -- "$0"`,
      tmp.path,
    ],
    { stdin: "pipe", stdout: "ignore", stderr: "ignore" },
  );
  reaper.unref();

  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const argv = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", server];
    argv.push("--port", String(port), "--bind", "127.0.0.1", "--dir", dataDir, "--logfile", logFile);
    argv.push("--save", opts.save ?? "", "--appendonly", "no", "--daemonize", "no");
    const proc = Bun.spawn(argv, { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
    reaper.stdin.write(`${proc.pid} ${port}\n`);
    reaper.stdin.flush();
    try {
      await waitFor(`unprivileged redis-server on ${port}`, async () => {
        if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode}`);
        return await canConnect(port);
      });
    } catch (err) {
      proc.kill("SIGKILL");
      await proc.exited;
      if (attempt >= 3) {
        reaper.kill("SIGKILL");
        tmp.cleanup();
        throw err;
      }
      continue;
    }
    let stopped = false;
    return {
      port,
      dataDir,
      logFile,
      async stop() {
        if (stopped) return;
        stopped = true;
        // With a save point, a shutdown saves first and refuses to exit if that fails.
        chmodSync(dataDir, 0o755);
        proc.kill("SIGTERM");
        await Promise.race([proc.exited, Bun.sleep(5_000)]);
        if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
        reaper.kill("SIGKILL");
        tmp.cleanup();
      },
    };
  }
}

function idOf(db: "passwd" | "group", name: string): number {
  const r = Bun.spawnSync(["getent", db, name], { stdout: "pipe" });
  const id = Number(r.stdout.toString().split(":")[2]);
  if (r.exitCode !== 0 || !Number.isInteger(id)) throw new Error(`no ${db} entry for ${name}`);
  return id;
}
const uid = (name: string) => idOf("passwd", name);
const gid = (name: string) => idOf("group", name);
