import { publishEvent, updateRecord } from "../../broker/records.ts";
import type { Incident } from "../../core/schemas/incident.ts";
import type { Principal } from "../auth.ts";
import type { ApiDeps } from "../deps.ts";
import { HttpError } from "../http-error.ts";

/** Move an incident to `to` with a reason in its history, and say so on `mcp:events`. */
export async function setIncidentStatus(
  deps: ApiDeps,
  id: string,
  to: Incident["status"],
  reason: string,
): Promise<Incident | null> {
  const at = new Date().toISOString();
  let from: Incident["status"] | null = null;
  const res = await updateRecord<Incident>(
    deps.broker,
    "incident",
    id,
    (inc) => {
      if (!inc || inc.status === to) return undefined;
      from = inc.status;
      return {
        ...inc,
        status: to,
        status_reason: reason,
        history: [...(inc.history ?? []), { at, from: inc.status, to, reason }].slice(-50),
      };
    },
    {
      events: () => [
        { type: "incident.status", channel: "incidents", subject: id, data: { from, to, reason } },
      ],
    },
  );
  return res?.value ?? null;
}

/**
 * An operator marks an incident `ignored`: its events are still counted, nothing is analysed or
 * fixed automatically (the analyzer only analyses incidents that are new or regress after a fix).
 */
export async function ignoreIncident(deps: ApiDeps, id: string, who: Principal, reason?: string) {
  const cur = await deps.broker.getRecord<Incident>("incident", id);
  if (!cur) throw new HttpError(404, "not_found", `no incident with id "${id}"`);
  if (cur.value.status === "executing") {
    throw new HttpError(409, "conflict", `incident ${id} has a fix running; wait for it to finish`);
  }
  const moved = await setIncidentStatus(
    deps,
    id,
    "ignored",
    `ignored by ${who.name}${reason ? `: ${reason}` : ""}`,
  );
  return moved ?? cur.value;
}
