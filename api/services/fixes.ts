import { ensureEnqueued, updateRecord } from "../../broker/records.ts";
import type { Fix } from "../../core/schemas/fix.ts";
import type { Principal } from "../auth.ts";
import type { ApiDeps } from "../deps.ts";
import { HttpError } from "../http-error.ts";
import { type ListQuery, page } from "../schemas.ts";
import { setIncidentStatus } from "./incidents.ts";

export async function listFixes(deps: ApiDeps, q: ListQuery) {
  const all = (await deps.broker.listRecords<Fix>("fix")).map((r) => r.value);
  const filtered = all
    .filter((f) => !q.status || f.status === q.status)
    .filter((f) => !q.service || f.service === q.service)
    .filter((f) => !q.host || f.host === q.host)
    .sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
  const { limit, offset } = page(q);
  return { total: filtered.length, limit, offset, items: filtered.slice(offset, offset + limit) };
}

export async function getFix(deps: ApiDeps, id: string): Promise<Fix> {
  const rec = await deps.broker.getRecord<Fix>("fix", id);
  if (!rec) throw new HttpError(404, "not_found", `no fix with id "${id}"`);
  return rec.value;
}

/**
 * Change a fix that waits for an operator (compare-and-set): 404 when it does not exist, 409 when
 * it is not `awaiting_approval` any more (another operator, or a second click, was first).
 */
async function decide(
  deps: ApiDeps,
  id: string,
  change: (fix: Fix) => Fix,
  event: (fix: Fix) => Record<string, unknown>,
): Promise<Fix> {
  let refusal: HttpError | null = null;
  const updated = await updateRecord<Fix>(
    deps.broker,
    "fix",
    id,
    (fix) => {
      refusal = null;
      if (!fix) refusal = new HttpError(404, "not_found", `no fix with id "${id}"`);
      else if (fix.status !== "awaiting_approval") {
        refusal = new HttpError(409, "conflict", `fix ${id} is ${fix.status}, not awaiting_approval`);
      }
      return refusal || !fix ? undefined : change(fix);
    },
    { events: (fix) => [{ type: "fix.status", channel: "fixes", subject: id, data: event(fix) }] },
  );
  if (refusal) throw refusal;
  return updated!.value;
}

/**
 * Approve a fix that waits for an operator: record who and when, queue it for the executors.
 * The executor checks the policy and this approval again when it runs the fix.
 */
export async function approveFix(
  deps: ApiDeps,
  id: string,
  who: Principal,
  body: { note?: string; dry_run?: boolean },
) {
  const at = new Date().toISOString();
  const fix = await decide(
    deps,
    id,
    (f) => ({
      ...f,
      status: "queued",
      approval: { by: who.name, at, ...(body.note ? { note: body.note } : {}) },
      dry_run: body.dry_run ?? f.dry_run,
      // Queued anew: not on the stream yet, whatever an earlier round did.
      enqueued_at: undefined,
      updated_at: at,
    }),
    (f) => ({ status: "queued", approved_by: who.name, incident_id: f.incident_id }),
  );
  await setIncidentStatus(deps, fix.incident_id, "queued", `fix ${fix.fix_id} approved by ${who.name}`);
  // After the record says queued: a failed append is repaired by the sweeper (queued, not enqueued).
  return (await ensureEnqueued(deps.broker, fix.fix_id)) ?? fix;
}

export async function rejectFix(deps: ApiDeps, id: string, who: Principal, reason: string) {
  const at = new Date().toISOString();
  const fix = await decide(
    deps,
    id,
    (f) => ({ ...f, status: "rejected", rejection: { by: who.name, at, reason }, updated_at: at }),
    (f) => ({ status: "rejected", rejected_by: who.name, reason, incident_id: f.incident_id }),
  );
  await setIncidentStatus(
    deps,
    fix.incident_id,
    "needs_human",
    `fix ${fix.fix_id} rejected by ${who.name}: ${reason}`,
  );
  return fix;
}
