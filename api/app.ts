import { Elysia } from "elysia";
import { isMcpError } from "../core/errors.ts";
import { NO_BODY, parseJsonBody, routeMatcher, tooLarge } from "./body.ts";
import { createAllowList } from "./cidr.ts";
import type { ApiDeps } from "./deps.ts";
import { docsPlugin } from "./docs.ts";
import { errorBody, HttpError } from "./http-error.ts";
import { clientsRoutes } from "./routes/clients.ts";
import { errorsRoutes } from "./routes/errors.ts";
import { fixesRoutes } from "./routes/fixes.ts";
import { metricsRoutes } from "./routes/metrics.ts";
import { systemRoutes } from "./routes/system.ts";
import { wsRoutes } from "./routes/ws.ts";
import { validationProblems } from "./validation.ts";

export interface AppOptions {
  /** The client address of a request (the server's `requestIP`); absent in `app.handle` tests. */
  clientIp?: (request: Request) => string | undefined;
  /**
   * The MCP endpoint (`/mcp`, see mcp/http.ts): it answers every method itself, with its own auth
   * (401 with WWW-Authenticate), Host/Origin checks and JSON-RPC bodies; only api.allow_cidrs and
   * the body limit are applied here first, as for every route.
   */
  mcp?: (request: Request) => Promise<Response>;
}

/**
 * The whole HTTP API as one Elysia app composed of one instance per feature. Bad input never
 * yields a 5xx: malformed JSON 400, validation 422 with the problems listed (`path` like
 * `body[0].extra` or `query.limit`), unknown route 404 (with or without a token), too large 413,
 * a body that is not JSON 415; a broker that is down 503 `broker_unavailable`; anything else
 * unexpected is logged and answered 500 without internals.
 */
export function createApp(deps: ApiDeps, opts: AppOptions = {}) {
  const allow = createAllowList(deps.config.api.allow_cidrs);
  const maxBody = deps.config.api.max_body_bytes;
  const started = new WeakMap<Request, number>();
  const metricsPublic = deps.config.api.metrics_public;
  // /ws checks its own token (browsers pass it as ?token=); /health shows more to a token.
  const isPublic = (path: string) =>
    path === "/health" ||
    path === "/ws" ||
    path.startsWith("/swagger") ||
    (metricsPublic && path === "/metrics");
  const isRoute = routeMatcher(() => app.routes);

  const app = new Elysia()
    .onRequest(({ request }) => {
      started.set(request, performance.now());
      if (allow) {
        const ip = opts.clientIp?.(request);
        if (!allow(ip))
          throw new HttpError(
            403,
            "forbidden",
            `client address ${ip ?? "unknown"} is not in api.allow_cidrs`,
          );
      }
      // Anonymous callers are refused before the body is parsed, so they learn nothing about
      // schemas; the route's role macro then checks the role.
      // An HTTP/1.0 request without Host (a bare health probe) has a relative request.url.
      const path = new URL(request.url, "http://localhost").pathname;
      if (path === MCP_PATH && opts.mcp) {
        if (Number(request.headers.get("content-length") ?? 0) > maxBody) throw tooLarge(maxBody);
        return; // answered by the next hook
      }
      // Unknown paths are 404 with or without a token: they protect nothing, and the route list
      // is public in /swagger/json.
      if (!isRoute(path)) throw new HttpError(404, "not_found", `no route ${request.method} ${path}`);
      if (!isPublic(path) && !deps.auth.identify(request.headers.get("authorization"))) {
        throw new HttpError(401, "unauthorized", "a valid bearer token is required");
      }
      // A declared length is refused before reading; a chunked body is counted while it is read.
      if (Number(request.headers.get("content-length") ?? 0) > maxBody) throw tooLarge(maxBody);
    })
    // A separate async hook, so the synchronous checks above stay synchronous for every other path.
    .onRequest(async ({ request }) => {
      if (!opts.mcp || new URL(request.url, "http://localhost").pathname !== MCP_PATH) return;
      return opts.mcp(request);
    })
    .onParse(({ request }, contentType) => parseJsonBody(request, contentType, maxBody))
    // Never reached (the hook above answers every request), but it tells the OpenAPI plugin that
    // bodies are application/json: the plugin skips parse hooks that are functions.
    .on("parse", { fn: "json" } as never)
    .onTransform((ctx) => {
      if (ctx.body === NO_BODY) ctx.body = undefined;
      const body = ctx.body;
      // Elysia's ValidationError pretty-prints the whole body into its message: 40 KB of nested
      // arrays becomes gigabytes ("Out of memory", a 500). Deep bodies are refused before validation.
      if (tooDeep(body, MAX_BODY_DEPTH))
        throw new HttpError(400, "malformed_body", `the body nests deeper than ${MAX_BODY_DEPTH} levels`);
    })
    .onError(({ code, error, set, request }) => {
      // The parse hook's refusals (413, 415, 400) arrive wrapped in Elysia's ParseError.
      const http =
        error instanceof HttpError
          ? error
          : (error as { cause?: unknown })?.cause instanceof HttpError
            ? ((error as { cause?: unknown }).cause as HttpError)
            : null;
      if (http) {
        set.status = http.status;
        return errorBody(http.code, http.message, http.problems);
      }
      switch (code) {
        case "VALIDATION": {
          set.status = 422;
          return errorBody(
            "validation_failed",
            "the request does not match the schema",
            validationProblems(error),
          );
        }
        case "PARSE":
          set.status = 400;
          return errorBody("malformed_body", "the body is empty or not valid JSON");
        case "NOT_FOUND":
          set.status = 404;
          return errorBody(
            "not_found",
            `no route ${request.method} ${new URL(request.url, "http://localhost").pathname}`,
          );
        case "INVALID_COOKIE_SIGNATURE":
        case "INVALID_FILE_TYPE":
          set.status = 400;
          return errorBody("bad_request", String((error as Error).message));
      }
      if (typeof code === "number" && code >= 400 && code < 500) {
        set.status = code;
        return errorBody("bad_request", String((error as unknown as Error)?.message ?? "bad request"));
      }
      const message = error instanceof Error ? error.message : String(error);
      if (/too large|body size|exceeds/i.test(message)) {
        set.status = 413;
        return errorBody("payload_too_large", message);
      }
      const path = new URL(request.url, "http://localhost").pathname;
      if (isMcpError(error, "BROKER_UNAVAILABLE") || (error as { retryable?: boolean })?.retryable) {
        deps.log.warn({ err: message, path }, "request failed: broker unavailable");
        set.status = 503;
        return errorBody("broker_unavailable", `${brokerName(deps)} is unavailable; retry later`);
      }
      deps.log.error({ err: message, path }, "request failed");
      set.status = 500;
      return errorBody("internal_error", "internal error (logged)");
    })
    .onAfterResponse(({ request, set, route }) => {
      const t0 = started.get(request);
      if (t0 === undefined) return;
      deps.metrics.apiDuration.observe(
        { method: request.method, route: route || "unknown", status: String(set.status ?? 200) },
        (performance.now() - t0) / 1000,
      );
    })
    .use(docsPlugin(deps.version))
    .use(systemRoutes(deps))
    .use(errorsRoutes(deps))
    .use(fixesRoutes(deps))
    .use(clientsRoutes(deps))
    .use(metricsRoutes(deps))
    .use(wsRoutes(deps));
  return app;
}

/** "the redis broker at redis://cache:6379", without credentials. */
function brokerName(deps: ApiDeps): string {
  const url = deps.config.broker.url.replace(/\/\/[^@/]*@/, "//***@").replace(/\?.*$/, "");
  return `the ${deps.broker.kind} broker at ${url}`;
}

const MAX_BODY_DEPTH = 32;
const MCP_PATH = "/mcp";

/** True when arrays/objects nest deeper than `max`; iterative, so no depth can overflow the stack. */
function tooDeep(value: unknown, max: number): boolean {
  if (value === null || typeof value !== "object" || ArrayBuffer.isView(value)) return false;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (depth > max) return true;
    for (const child of Object.values(v as object)) {
      if (child !== null && typeof child === "object") stack.push([child, depth + 1]);
    }
  }
  return false;
}

export type App = ReturnType<typeof createApp>;
