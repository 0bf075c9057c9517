/**
 * HTTP and WebSocket clients of the API for the end-to-end tests (test/e2e-*.test.ts), polling,
 * a Prometheus sample reader, and the shapes of what the API returns.
 */

export interface ApiClient {
  url: string;
  get<T = unknown>(path: string, token?: string): Promise<{ status: number; body: T }>;
  post<T = unknown>(path: string, body: unknown, token?: string): Promise<{ status: number; body: T }>;
  text(path: string, token?: string): Promise<{ status: number; body: string }>;
}

export function apiClient(url: string): ApiClient {
  const headers = (token?: string): Record<string, string> =>
    token ? { authorization: `Bearer ${token}` } : {};
  const json = async (res: Response) => {
    const t = await res.text();
    try {
      return JSON.parse(t);
    } catch {
      return t;
    }
  };
  return {
    url,
    async get(path, token) {
      const res = await fetch(`${url}${path}`, { headers: headers(token) });
      return { status: res.status, body: await json(res) };
    },
    async post(path, body, token) {
      const res = await fetch(`${url}${path}`, {
        method: "POST",
        headers: { ...headers(token), "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      return { status: res.status, body: await json(res) };
    },
    async text(path, token) {
      const res = await fetch(`${url}${path}`, { headers: headers(token) });
      return { status: res.status, body: await res.text() };
    },
  };
}

/** Thrown from a `pollFor` probe to stop polling at once (other errors are retried until the timeout). */
export class PollAbort extends Error {}

/**
 * Poll `probe` until it returns a value (not undefined/null/false) and return that value. An error
 * thrown by the probe is retried (the last one is reported on timeout), except PollAbort.
 */
export async function pollFor<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs = 30_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== null && v !== false) return v;
    } catch (err) {
      if (err instanceof PollAbort) throw new Error(`${what}: ${err.message}`);
      lastError = err;
    }
    if (Date.now() >= deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`,
      );
    await Bun.sleep(intervalMs);
  }
}

export interface WsMessage {
  type: string;
  channel?: string;
  event?: { type: string; channel: string; subject: string; data?: Record<string, unknown> };
  [k: string]: unknown;
}

export interface WsClient {
  messages: WsMessage[];
  subscribe(channel: string): Promise<void>;
  waitFor(what: string, pred: (m: WsMessage) => boolean, timeoutMs?: number): Promise<WsMessage>;
  close(): void;
}

/** Connect to `/ws?token=…` and wait for the welcome message. */
export async function wsClient(apiUrl: string, token: string): Promise<WsClient> {
  const ws = new WebSocket(`${apiUrl.replace(/^http/, "ws")}/ws?token=${encodeURIComponent(token)}`);
  const messages: WsMessage[] = [];
  let closed = false;
  ws.onmessage = (e) => {
    try {
      messages.push(JSON.parse(String(e.data)));
    } catch {
      messages.push({ type: "unparsable", raw: String(e.data) });
    }
  };
  ws.onclose = () => {
    closed = true;
  };
  const find = (what: string, pred: (m: WsMessage) => boolean, timeoutMs = 30_000) =>
    pollFor(
      `WebSocket: ${what}`,
      () => {
        const m = messages.find(pred);
        if (!m && closed) throw new PollAbort(`socket closed; got ${JSON.stringify(messages)}`);
        return m;
      },
      timeoutMs,
      25,
    );
  await find("welcome", (m) => m.type === "welcome", 10_000);
  return {
    messages,
    async subscribe(channel) {
      ws.send(JSON.stringify({ type: "subscribe", channel }));
      await find(`subscribed to ${channel}`, (m) => m.type === "subscribed" && m.channel === channel, 10_000);
    },
    waitFor: find,
    close: () => ws.close(),
  };
}

/** One sample of a Prometheus text exposition, e.g. `mcp_fixes_total{outcome="fixed"}`; 0 if absent. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries(
      [...(m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]),
    );
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

/** A minimal incident shape as GET /errors lists it. */
export interface IncidentView {
  incident_id: string;
  status: string;
  pattern_id: string;
  service: string;
  count: number;
  fields?: Record<string, string>;
  fix_ids?: string[];
}

export interface FixView {
  fix_id: string;
  incident_id: string;
  status: string;
  status_reason?: string;
  risk: string;
  source: string;
  actions: Array<Record<string, unknown>>;
  steps: Array<{ phase: string; ok?: boolean; [k: string]: unknown }>;
}

export interface Page<T> {
  total: number;
  items: T[];
}
