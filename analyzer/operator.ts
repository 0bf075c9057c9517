/**
 * What operators (through the API) do with the analyzer's results: list incidents, approve or
 * reject a fix that waits for approval, ignore an incident. Every change is a compare-and-set on
 * the record plus an entry on `mcp:events`, exactly like the workers' own changes.
 */
import { enqueueFix, publishEvent, updateRecord } from "../broker/records.ts";
import type { Broker } from "../broker/types.ts";
import { McpError } from "../core/errors.ts";
import type { Fix } from "../core/schemas/fix.ts";
import type { Incident, IncidentStatus } from "../core/schemas/incident.ts";
import { changeStatus } from "./incidents.ts";

export interface IncidentFilter {
  status?: IncidentStatus;
  service?: string;
  limit?: number;
}

/** Incidents, most recently seen first. */
export async function listIncidents(broker: Broker, filter: IncidentFilter = {}): Promise<Incident[]> {
  const all = (await broker.listRecords<Incident>("incident")).map((r) => r.value);
  return all
    .filter(
      (i) =>
        (filter.status ? i.status === filter.status : true) &&
        (filter.service ? i.service === filter.service : true),
    )
    .sort((a, b) => (a.last_seen < b.last_seen ? 1 : a.last_seen > b.last_seen ? -1 : 0))
    .slice(0, filter.limit ?? 1000);
}

export async function getIncident(broker: Broker, id: string): Promise<Incident | null> {
  return (await broker.getRecord<Incident>("incident", id))?.value ?? null;
}

async function setFix(broker: Broker, fixId: string, change: (f: Fix) => Fix): Promise<Fix> {
  let problem: McpError | null = null;
  const stored = await updateRecord<Fix>(broker, "fix", fixId, (cur) => {
    problem = null;
    if (!cur) {
      problem = new McpError("NOT_FOUND", `fix ${fixId} does not exist`);
      return undefined;
    }
    if (cur.status !== "awaiting_approval") {
      problem = new McpError("VALIDATION", `fix ${fixId} is ${cur.status}, not awaiting_approval`, {
        details: { status: cur.status },
      });
      return undefined;
    }
    return change(structuredClone(cur));
  });
  if (!stored) throw problem ?? new McpError("INTERNAL", `fix ${fixId} was not updated`);
  return stored.value;
}

/** Approve a fix waiting for an operator: it becomes `queued` and goes on `mcp:fixes`. */
export async function approveFix(broker: Broker, fixId: string, by: string, note?: string): Promise<Fix> {
  const at = new Date().toISOString();
  const fix = await setFix(broker, fixId, (f) => ({
    ...f,
    status: "queued",
    approval: { by, at, ...(note ? { note } : {}) },
    updated_at: at,
  }));
  await publishEvent(broker, {
    type: "fix.status",
    channel: "fixes",
    subject: fixId,
    data: { from: "awaiting_approval", to: "queued", by },
  });
  await enqueueFix(broker, fix);
  await moveIncident(
    broker,
    fix.incident_id,
    ["awaiting_approval"],
    "queued",
    `fix ${fixId} approved by ${by}`,
  );
  return fix;
}

/** Reject a fix waiting for an operator: it is never run, and the incident goes to a human. */
export async function rejectFix(broker: Broker, fixId: string, by: string, reason: string): Promise<Fix> {
  const at = new Date().toISOString();
  const fix = await setFix(broker, fixId, (f) => ({
    ...f,
    status: "rejected",
    rejection: { by, at, reason },
    updated_at: at,
  }));
  await publishEvent(broker, {
    type: "fix.status",
    channel: "fixes",
    subject: fixId,
    data: { from: "awaiting_approval", to: "rejected", by, reason },
  });
  await moveIncident(
    broker,
    fix.incident_id,
    ["awaiting_approval"],
    "needs_human",
    `fix ${fixId} rejected by ${by}: ${reason}`,
  );
  return fix;
}

/** Mark an incident ignored: its events are still counted, nothing is analysed or fixed. */
export async function ignoreIncident(broker: Broker, id: string, by: string, reason = ""): Promise<Incident> {
  const cur = await getIncident(broker, id);
  if (!cur) throw new McpError("NOT_FOUND", `incident ${id} does not exist`);
  const all: IncidentStatus[] = [
    "new",
    "analyzing",
    "proposed",
    "awaiting_approval",
    "queued",
    "executing",
    "fixed",
    "failed",
    "rolled_back",
    "needs_human",
  ];
  const inc = await moveIncident(
    broker,
    id,
    all,
    "ignored",
    `ignored by ${by}${reason ? `: ${reason}` : ""}`,
  );
  if (!inc) throw new McpError("VALIDATION", `incident ${id} is ${cur.status} and cannot be ignored`);
  return inc;
}

async function moveIncident(
  broker: Broker,
  id: string,
  from: IncidentStatus[],
  to: IncidentStatus,
  reason: string,
): Promise<Incident | null> {
  const cur = await getIncident(broker, id);
  if (!cur) return null;
  return changeStatus(broker, id, { round: cur.regressions ?? 0, from, to: [{ status: to, reason }] });
}

/** An entry of this incident went to the DLQ: the incident must not stay `analyzing` forever. */
export async function recordDeadLetter(broker: Broker, incidentId: string, reason: string): Promise<void> {
  await moveIncident(broker, incidentId, ["new", "analyzing"], "needs_human", `analysis gave up: ${reason}`);
}
