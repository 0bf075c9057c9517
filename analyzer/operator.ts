/**
 * Reading the analyzer's results as a library (tests, tools), and the incident change the workers
 * make when an entry goes to the DLQ. Operators' changes (approve, reject, ignore) are the API's
 * (api/services/fixes.ts), which reaches the same records through the broker.
 */
import type { Broker } from "../broker/types.ts";
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

/**
 * The incident an event was counted into: the pipeline writes the mark `seen:analyzer:<event_id>`,
 * holding the incident id, in the same step as the count (pipeline.ts). Null when never counted.
 */
export async function markedIncident(broker: Broker, eventId: string): Promise<string | null> {
  return await broker.kvGet(`seen:analyzer:${eventId}`);
}
