import { mkdirSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { createBroker, isRedisUrl } from "../../broker/index.ts";
import type { Broker } from "../../broker/types.ts";
import { createLogger, type Logger } from "../../core/log.ts";

/**
 * The embedded broker's file lives in a folder that may not exist yet (a fresh checkout, an empty
 * folder beside the binary): create it, then open the broker.
 */
export function openBroker(
  url: string,
  prefix: string,
  log: Logger,
  durable = false,
  waitReplicas = 0,
): Broker {
  const embedded = !isRedisUrl(url);
  if (embedded) {
    const path = url.replace(/^sqlite:(\/\/)?/i, "");
    if (path !== ":memory:") mkdirSync(dirname(resolve(path)), { recursive: true });
  }
  const broker = createBroker(url, { prefix, durable, waitReplicas });
  log.debug({ broker: embedded ? url : url.replace(/\/\/[^@/]*@/, "//***@") }, "broker opened");
  return broker;
}

/** `--data-dir DIR`: the embedded broker file and collector state go there. */
export function brokerUrlFor(url: string, dataDir: string | undefined): string {
  if (!dataDir || isRedisUrl(url)) return url;
  return `sqlite:${resolve(dataDir, "mcpmon.db")}`;
}

export function resolveFrom(base: string, path: string): string {
  return isAbsolute(path) ? path : resolve(base, path);
}

/**
 * SIGTERM/SIGINT handling, installed before anything starts so a signal during start-up is not
 * lost: the first signal stops taking work, finishes or hands back what is in flight, acknowledges
 * and closes (the `stop` given to `wait`); a second signal exits at once.
 */
export function watchSignals(log: Logger): { wait(stop: () => Promise<void>): Promise<number> } {
  let received: NodeJS.Signals | null = null;
  let onFirst: (() => void) | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    if (received) {
      log.warn({ signal }, "second signal: exiting now");
      process.exit(130);
    }
    received = signal;
    log.info({ signal }, "shutting down (send the signal again to exit at once)");
    onFirst?.();
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  return {
    wait: (stop) =>
      new Promise<number>((done) => {
        const run = () =>
          stop().then(
            () => done(0),
            (err) => {
              log.error({ err: String(err) }, "shutdown failed");
              done(1);
            },
          );
        if (received) run();
        else onFirst = run;
      }),
  };
}

export { createLogger };
