import { HttpError } from "./http-error.ts";

/**
 * The one body parser of the API (every request body is JSON), installed as Elysia's parse hook:
 *
 * - the body is read with a byte limit, so a chunked body (no Content-Length to refuse up front)
 *   over api.max_body_bytes gets the same JSON 413 as a declared one, and is never held whole;
 * - an empty body is no body (routes whose body is optional take their default): the hook answers
 *   `NO_BODY`, which the transform hook turns into `undefined` (a hook answering `undefined`
 *   would let Elysia's own parser try again);
 * - `application/json` and `…+json` are parsed, and so is a body sent without any Content-Type
 *   (curl's `--data-binary @file` from a script, a probe): JSON is the only thing the API speaks;
 * - any other declared type (curl's `-d` sends `application/x-www-form-urlencoded`) is a 415 that
 *   says what to send, rather than a validation error about a string.
 */
export async function parseJsonBody(request: Request, contentType: string, max: number): Promise<unknown> {
  const bytes = await readLimited(request, max);
  if (bytes.length === 0) return NO_BODY;
  const type = contentType.trim().toLowerCase();
  if (type !== "" && type !== "application/json" && !/^application\/[\w.+-]*\+json$/.test(type)) {
    throw new HttpError(
      415,
      "unsupported_media_type",
      `Content-Type: application/json required (got ${JSON.stringify(type.slice(0, 100))})`,
    );
  }
  const text = new TextDecoder().decode(bytes);
  if (text.trim() === "") return NO_BODY;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, "malformed_body", `the body is not valid JSON: ${(err as Error).message}`);
  }
}

/** What the parse hook answers for an empty body; see `parseJsonBody`. */
export const NO_BODY: unique symbol = Symbol("no body");

/** The body's bytes, refusing (413) as soon as more than `max` have arrived. */
async function readLimited(request: Request, max: number): Promise<Uint8Array> {
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => {});
      throw tooLarge(max);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

export function tooLarge(max: number): HttpError {
  return new HttpError(413, "payload_too_large", `request body over ${max} bytes (api.max_body_bytes)`);
}

/**
 * Whether a path belongs to some route, whatever the method: unknown paths are answered 404
 * before authentication (they hold nothing to protect, and the route list is public in
 * /swagger/json anyway). `routes` is read on each call, so it sees every route once composed.
 */
export function routeMatcher(routes: () => ReadonlyArray<{ path: string }>) {
  let cache: { count: number; res: RegExp[] } | null = null;
  return (path: string): boolean => {
    const list = routes();
    if (!cache || cache.count !== list.length) {
      cache = { count: list.length, res: [...new Set(list.map((r) => r.path))].map(toRegex) };
    }
    const p = path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
    return cache.res.some((re) => re.test(p));
  };
}

function toRegex(route: string): RegExp {
  const source = route
    .split("/")
    .map((seg) => {
      if (seg === "*") return ".*";
      if (seg.startsWith(":")) return "[^/]+";
      return seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    })
    .join("/");
  return new RegExp(`^${source}/?$`);
}
