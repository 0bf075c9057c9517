/**
 * A client of the REST API, for the operator CLI (`mcpmon incidents`, `approve`…) and for
 * `mcpmon mcp` on stdio pointed at a running server (MCP_API_URL). It speaks only the public
 * routes, so the server's own services decide everything (roles, "who may approve", conflicts);
 * a refusal comes back as the same HttpError the route threw, with its status, code and message.
 */
import { McpError } from "../core/errors.ts";
import { HttpError } from "./http-error.ts";

export interface ApiClientOptions {
  url: string;
  token?: string;
  /** Per request; a hung server must not hang an operator's terminal or a desktop client. */
  timeoutMs?: number;
}

export type Query = Record<string, string | number | undefined>;

export class ApiClient {
  readonly url: string;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;

  constructor(opts: ApiClientOptions) {
    this.url = opts.url.replace(/\/+$/, "");
    this.token = opts.token;
    this.timeoutMs = opts.timeoutMs ?? 15_000;
  }

  get<T>(path: string, query: Query = {}): Promise<T> {
    return this.request<T>("GET", path, query);
  }

  post<T>(path: string, body?: unknown, query: Query = {}): Promise<T> {
    return this.request<T>("POST", path, query, body);
  }

  /**
   * One request. Throws HttpError for an answer other than 2xx (the API's `{error, message,
   * problems}`), McpError BROKER_UNAVAILABLE (retryable) when the API cannot be reached.
   */
  async request<T>(method: string, path: string, query: Query, body?: unknown): Promise<T> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== "") qs.set(k, String(v));
    const target = `${this.url}${path}${qs.size > 0 ? `?${qs}` : ""}`;
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    let res: Response;
    try {
      res = await fetch(target, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const why = (err as Error)?.name === "TimeoutError" ? `no answer in ${this.timeoutMs} ms` : reason(err);
      throw new McpError("BROKER_UNAVAILABLE", `cannot reach the API at ${this.url}: ${why}`, {
        cause: err,
        retryable: true,
      });
    }
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // Not JSON (a proxy's error page): reported as text below.
    }
    if (!res.ok) {
      const b = (parsed && typeof parsed === "object" ? parsed : {}) as {
        error?: string;
        message?: string;
        problems?: Array<{ path: string; message: string }>;
      };
      const message = b.message ?? (text.slice(0, 200) || res.statusText);
      throw new HttpError(res.status, b.error ?? `http_${res.status}`, message, b.problems);
    }
    return parsed as T;
  }
}

function reason(err: unknown): string {
  const code = (err as { code?: string })?.code;
  if (code === "ConnectionRefused" || code === "ECONNREFUSED") return "connection refused";
  return (err as Error)?.message ?? String(err);
}
