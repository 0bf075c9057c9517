import { createConnection } from "node:net";
import * as v from "valibot";
import { errorMessage } from "../core/errors.ts";
import { HealthCheck } from "../core/patterns/schema.ts";

export interface HealthResult {
  health: "ok" | "degraded" | "down" | "unknown";
  detail: string;
  latency_ms: number;
}

/**
 * The service's health check: the patterns file's `health_check`, with the client config's
 * `health_check` keys laid over it (another port, another URL). Throws a readable error when the
 * merged check is not valid.
 */
export function resolveHealthCheck(
  fromPatterns: HealthCheck | undefined,
  override?: Record<string, unknown>,
): HealthCheck {
  const base = (fromPatterns ?? { type: "none" }) as Record<string, unknown>;
  const merged = override
    ? override.type && override.type !== base.type
      ? override
      : { ...base, ...override }
    : base;
  const r = v.safeParse(HealthCheck, merged);
  if (!r.success) throw new Error(`invalid health_check: ${r.issues.map((i) => i.message).join("; ")}`);
  return r.output;
}

/**
 * Run one check, bounded by `timeoutMs`. nginx: its status URL (`http`) or port (`tcp`);
 * PostgreSQL: a protocol handshake (an SSLRequest answered with S or N proves the postmaster
 * accepts connections, without needing credentials); Redis: PING (a NOAUTH reply still proves it
 * is up); `command`: exit status 0.
 */
export async function runHealthCheck(check: HealthCheck, timeoutMs = 5000): Promise<HealthResult> {
  const started = performance.now();
  const done = (health: HealthResult["health"], detail: string): HealthResult => ({
    health,
    detail,
    latency_ms: Math.round(performance.now() - started),
  });
  try {
    switch (check.type) {
      case "none":
        return done("unknown", "no health check configured");
      case "http": {
        const res = await fetch(check.url, { signal: AbortSignal.timeout(timeoutMs), redirect: "manual" });
        await res.arrayBuffer().catch(() => undefined);
        return res.status === check.expect_status
          ? done("ok", `HTTP ${res.status}`)
          : done("degraded", `HTTP ${res.status}, expected ${check.expect_status}`);
      }
      case "tcp":
        await exchange(check.host, check.port, undefined, timeoutMs);
        return done("ok", `port ${check.port} accepts connections`);
      case "postgres": {
        // SSLRequest: length 8, code 80877103.
        const req = Buffer.from([0, 0, 0, 8, 4, 210, 22, 47]);
        const reply = await exchange(check.host, check.port, req, timeoutMs);
        const c = reply.toString("latin1", 0, 1);
        return c === "S" || c === "N"
          ? done("ok", "postgres accepts connections")
          : done("degraded", `unexpected reply ${JSON.stringify(reply.toString("latin1", 0, 40))}`);
      }
      case "redis": {
        const u = new URL(check.url);
        const reply = (
          await exchange(
            u.hostname || "127.0.0.1",
            Number(u.port || 6379),
            Buffer.from("PING\r\n"),
            timeoutMs,
          )
        )
          .toString("latin1")
          .trim();
        if (reply.startsWith("+PONG") || reply.startsWith("-NOAUTH")) return done("ok", "redis answers PING");
        if (reply.startsWith("-LOADING")) return done("degraded", "redis is loading its dataset");
        return done("degraded", `PING answered ${JSON.stringify(reply.slice(0, 80))}`);
      }
      case "command": {
        const p = Bun.spawn([check.program, ...check.args], { stdout: "ignore", stderr: "pipe" });
        const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
        const code = await p.exited;
        clearTimeout(timer);
        const err = (await new Response(p.stderr).text()).trim().slice(0, 200);
        return code === 0
          ? done("ok", `${check.program} exited 0`)
          : done("down", `${check.program} exited ${code}: ${err}`);
      }
    }
  } catch (err) {
    return done("down", errorMessage(err));
  }
}

/** Connect, optionally send `payload` and wait for the first reply bytes; rejects on error or timeout. */
function exchange(
  host: string,
  port: number,
  payload: Buffer | undefined,
  timeoutMs: number,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ host, port });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer from ${host}:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    const finish = (err: Error | undefined, data?: Buffer) => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(data ?? Buffer.alloc(0));
    };
    sock.once("error", (err) => finish(err));
    sock.once("connect", () => {
      if (!payload) finish(undefined);
      else sock.write(payload);
    });
    sock.once("data", (d) => finish(undefined, d));
    sock.once("close", () => finish(new Error(`${host}:${port} closed the connection`)));
  });
}
