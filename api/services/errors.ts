import { newId, stableId } from "../../core/ids.ts";
import { referenceMatch } from "../../core/patterns/check.ts";
import { withoutLevel } from "../../core/patterns/header.ts";
import { redact, redactDeep } from "../../core/redact/index.ts";
import type { ClientRecord } from "../../core/schemas/client.ts";
import { encode } from "../../core/schemas/codec.ts";
import type { ErrorEvent } from "../../core/schemas/error-event.ts";
import type { Fix } from "../../core/schemas/fix.ts";
import type { Incident } from "../../core/schemas/incident.ts";
import type { Principal } from "../auth.ts";
import type { ApiDeps } from "../deps.ts";
import { HttpError } from "../http-error.ts";
import { type ListQuery, page, type SubmittedError } from "../schemas.ts";

/**
 * Accept errors in the collectors' shape and append them to `mcp:errors`. An error without a
 * pattern id is matched against its service's patterns file, as the collector would match the
 * line, so a client reply such as Redis's `OOM command not allowed …` meets its pattern. An error
 * without an event id or time is counted each time it is reported; a client retrying a POST sends
 * an `Idempotency-Key` header (or its own event_id) so the retry is not counted twice. Message and fields are redacted before anything is stored, as the collector does
 * on its host: the raw `mcp:errors` entry must not keep what the incident would not.
 */
export async function submitErrors(
  deps: ApiDeps,
  input: SubmittedError | SubmittedError[],
  principal?: Principal,
  idempotencyKey?: string,
) {
  const list = Array.isArray(input) ? input : [input];
  const where = (i: number, key: string) => (Array.isArray(input) ? `body[${i}].${key}` : `body.${key}`);
  checkServices(
    deps,
    list.map((e) => e.service),
    (i) => where(i, "service"),
  );
  await checkClients(deps, list, principal, where);
  const now = new Date().toISOString();
  const events: ErrorEvent[] = list.map((e, i) => {
    const c = classify(deps, e);
    const message = redact(e.message).text;
    return {
      v: 1,
      // Each report counts: an application reporting the same fault every minute must not look
      // fixed. Retries of one request stay one event through the client's event_id, its time, or
      // an Idempotency-Key header (the key and the error's place in the body).
      event_id:
        e.event_id ??
        (idempotencyKey !== undefined
          ? stableId("api", "idem", principal?.name ?? "", idempotencyKey, i)
          : e.time !== undefined
            ? stableId("api", e.client_id, e.host, e.service, c.pattern_id, e.time, e.message)
            : newId()),
      client_id: e.client_id,
      host: e.host,
      service: e.service,
      source: e.source,
      time: e.time ?? now,
      ...c,
      fields: redactDeep(c.fields).value,
      message,
      count: e.count,
    };
  });
  const ids = await deps.broker.append(
    deps.broker.keys.errors,
    events.map((e) => encode("error", e)),
  );
  // Remembered for `GET /errors/{event_id}` until the analyzer has taken the event; in parallel,
  // so a batch costs one round trip, not one per error. (Ingestion is counted by the analyzers,
  // which see collector and API events alike.)
  const at = JSON.stringify({ at: now });
  await Promise.all(
    events.map((e) => deps.broker.kvSet(`submitted:${e.event_id}`, at, { ttlMs: 7 * 86_400_000 })),
  );
  return {
    accepted: events.length,
    ids: events.map((e, i) => ({ event_id: e.event_id, stream_id: ids[i] })),
  };
}

export async function listIncidents(deps: ApiDeps, q: ListQuery) {
  const all = (await deps.broker.listRecords<Incident>("incident")).map((r) => r.value);
  const filtered = all
    .filter((i) => !q.status || i.status === q.status)
    .filter((i) => !q.service || i.service === q.service)
    .filter((i) => !q.host || i.hosts.includes(q.host))
    .filter((i) => !q.client || i.client_ids.includes(q.client))
    .filter((i) => !q.since || i.last_seen >= q.since)
    .filter((i) => !q.until || i.first_seen <= q.until)
    .sort((a, b) => (a.last_seen < b.last_seen ? 1 : -1));
  const { limit, offset } = page(q);
  return { total: filtered.length, limit, offset, items: filtered.slice(offset, offset + limit) };
}

/**
 * The processing status of an incident (by id) or of a submitted error (by event id): the
 * incident it joined, its analysis, fix and history.
 */
export async function errorStatus(deps: ApiDeps, id: string) {
  const incident = await findIncident(deps, id);
  if (incident) {
    const fixes: Fix[] = [];
    for (const fixId of incident.fix_ids ?? []) {
      const f = await deps.broker.getRecord<Fix>("fix", fixId);
      if (f) fixes.push(f.value);
    }
    return {
      kind: "incident" as const,
      status: incident.status,
      incident,
      fixes,
      history: incident.history ?? [],
    };
  }
  const submitted = await deps.broker.kvGet(`submitted:${id}`);
  const joined = await deps.broker.kvGet(`seen:analyzer:${id}`);
  if (joined) {
    const inc = await findIncident(deps, joined);
    if (inc) return { kind: "event" as const, event_id: id, status: "analyzed", incident: inc };
  }
  if (submitted)
    return { kind: "event" as const, event_id: id, status: "queued", submitted: JSON.parse(submitted) };
  throw new HttpError(404, "not_found", `no incident or submitted error with id "${id}"`);
}

async function findIncident(deps: ApiDeps, id: string): Promise<Incident | null> {
  const direct = await deps.broker.getRecord<Incident>("incident", id);
  if (direct) return direct.value;
  return null;
}

/**
 * What the submitter left out, filled from the first pattern of the service that matches the
 * message (given values always win); unmatched: `submitted`, `error`, `other`. A given pattern id
 * is kept even if the file lacks it: the analyzer runs the claimed pattern again anyway.
 */
function classify(deps: ApiDeps, e: SubmittedError) {
  const sp = e.pattern_id ? undefined : deps.patterns?.get(e.service);
  const hit = sp ? (referenceMatch(sp, e.message) ?? referenceMatch(sp, withoutLevel(sp, e.message))) : null;
  return {
    pattern_id: e.pattern_id ?? hit?.cp.pattern.id ?? "submitted",
    severity: e.severity ?? hit?.cp.pattern.severity ?? "error",
    category: e.category ?? hit?.cp.pattern.category ?? "other",
    fields: { ...(hit?.fields ?? {}), ...(e.fields ?? {}) },
  };
}

/**
 * Who an event is about decides where a fix runs, so a reporter may not name any client it likes:
 * the client id must be configured (`targets`) or registered (a collector's heartbeat, POST
 * /clients), a token bound to client ids (`api.tokens[].clients`) may report only for those, and
 * the service must be the registered client's. 422 naming the key otherwise, for every token.
 * The event's `host` is data for display; the executor never connects to it.
 */
async function checkClients(
  deps: ApiDeps,
  list: SubmittedError[],
  principal: Principal | undefined,
  where: (i: number, key: string) => string,
): Promise<void> {
  const problems: Array<{ path: string; message: string }> = [];
  const known = new Map<string, ClientRecord | null>();
  for (const id of new Set(list.map((e) => e.client_id))) {
    if (deps.config.targets[id]) known.set(id, null);
    const rec = await deps.broker.getRecord<ClientRecord>("client", id);
    if (rec) known.set(id, rec.value);
  }
  list.forEach((e, i) => {
    const id = JSON.stringify(e.client_id);
    if (!known.has(e.client_id))
      problems.push({
        path: where(i, "client_id"),
        message: `client ${id} is neither configured (targets) nor registered (POST /clients)`,
      });
    else if (principal?.clients && !principal.clients.includes(e.client_id))
      problems.push({
        path: where(i, "client_id"),
        message: `the token "${principal.name}" may report only for ${principal.clients.map((c) => JSON.stringify(c)).join(", ")}, not ${id}`,
      });
    else {
      const rec = known.get(e.client_id);
      if (rec?.service_type && rec.service_type !== e.service)
        problems.push({
          path: where(i, "service"),
          message: `client ${id} is registered for service ${JSON.stringify(rec.service_type)}, not ${JSON.stringify(e.service)}`,
        });
    }
  });
  if (problems.length === 0) return;
  throw new HttpError(422, "unknown_client", problems[0]!.message, problems.slice(0, 20));
}

/**
 * 422 for a service without a patterns file (when the API knows the patterns): nothing downstream
 * could match, analyse or fix its errors. `where(i)` names the offending value's path.
 */
export function checkServices(deps: ApiDeps, services: string[], where: (i: number) => string): void {
  const known = deps.patterns;
  if (!known) return;
  const problems = services.flatMap((s, i) =>
    known.has(s) ? [] : [{ path: where(i), message: `no patterns file for service ${JSON.stringify(s)}` }],
  );
  if (problems.length === 0) return;
  const first = services.find((s) => !known.has(s));
  throw new HttpError(
    422,
    "unknown_service",
    `no patterns file for service ${JSON.stringify(first)} (known: ${[...known.keys()].sort().join(", ")})`,
    problems.slice(0, 20),
  );
}
