/**
 * Incidents: one record per fingerprint (and per host + field values when the fix is host-specific),
 * updated with compare-and-set so any number of workers can count events into it concurrently.
 *
 * Status machine: new → analyzing → proposed → awaiting_approval | queued → executing →
 * fixed | failed | rolled_back, plus needs_human and ignored. Events after `fixed` reopen the
 * incident (a regression, counted, with a reason), unless the loop guard sees too many fixes inside
 * its window, in which case a human must look and nothing is fixed automatically any more.
 * Every status change is published on `mcp:events` (channel `incidents`, type `incident.status`).
 */
import { type EventInput, updateRecord, updateRecordOnce } from "../broker/records.ts";
import type { Broker } from "../broker/types.ts";
import { stableId } from "../core/ids.ts";
import { SEVERITY_ORDER } from "../core/schemas/common.ts";
import type { ErrorEvent } from "../core/schemas/error-event.ts";
import type { Incident, IncidentStatus } from "../core/schemas/incident.ts";

const MAX_SAMPLES = 5;
const MAX_SAMPLE_CHARS = 2000;
const MAX_HISTORY = 50;

export interface Transition {
  from: IncidentStatus | null;
  to: IncidentStatus;
  reason?: string;
}

/**
 * Incident id. Host-specific fixes (a rule whose actions use fields such as a file path) get one
 * incident per host and field values, because one fix cannot repair `/a.png` on host A and `/b.png`
 * on host B; everything else is one incident per fingerprint, whatever the host.
 */
export function incidentId(fingerprint: string, event: ErrorEvent, hostFields: readonly string[]): string {
  if (hostFields.length === 0) return `inc_${stableId(fingerprint)}`;
  const values = hostFields.map((f) => `${f}=${event.fields?.[f] ?? ""}`);
  return `inc_${stableId(fingerprint, event.host, ...values)}`;
}

/** Analysis round: 0 for the first analysis, +1 per regression; fixes are unique per round. */
export function fixIdFor(incident: Pick<Incident, "incident_id" | "regressions">): string {
  return `fix_${stableId(incident.incident_id, "round", incident.regressions ?? 0)}`;
}

export function applyTransition(
  inc: Incident,
  to: IncidentStatus,
  reason: string | undefined,
  at: string,
  log: Transition[],
): void {
  const from = inc.status;
  inc.history = [...(inc.history ?? []), { at, from, to, ...(reason ? { reason } : {}) }].slice(-MAX_HISTORY);
  inc.status = to;
  if (reason) inc.status_reason = reason;
  else delete inc.status_reason;
  log.push({ from, to, ...(reason ? { reason } : {}) });
}

export interface RecordInput {
  event: ErrorEvent;
  incidentId: string;
  fingerprint: string;
  template: string;
  /** The redacted record. */
  sample: string;
  /**
   * The kv mark that says this event was counted (key per event id, value the incident id). It
   * is written with the count in one atomic step; a redelivered event finds it and is not counted.
   */
  mark: { key: string; value: string; ttlMs: number };
  /** True when the entry was delivered before (a consumer may have died mid-analysis). */
  redelivered: boolean;
  loopGuard: { maxFixes: number; windowMinutes: number };
}

export interface RecordResult {
  incident: Incident;
  version: number;
  created: boolean;
  /** False when the event had been counted before (a redelivery). */
  counted: boolean;
  /** This caller must run the analysis (it won the transition, or takes over a dead consumer's). */
  analyze: boolean;
  transitions: Transition[];
}

/** Count one event into its incident (creating or reopening it) and decide who analyses. */
export async function recordEvent(broker: Broker, input: RecordInput): Promise<RecordResult> {
  const { event } = input;
  let decision: Omit<RecordResult, "incident" | "version" | "counted"> = {
    created: false,
    analyze: false,
    transitions: [],
  };
  const once = await updateRecordOnce<Incident>(
    broker,
    "incident",
    input.incidentId,
    input.mark,
    (cur, marked) => {
      const count = !marked;
      const now = new Date().toISOString();
      const transitions: Transition[] = [];
      const sample = input.sample.slice(0, MAX_SAMPLE_CHARS);
      if (cur === null) {
        const inc: Incident = {
          v: 1,
          incident_id: input.incidentId,
          fingerprint: input.fingerprint,
          service: event.service,
          pattern_id: event.pattern_id,
          template: input.template,
          severity: event.severity,
          category: event.category,
          hosts: [event.host],
          client_ids: [event.client_id],
          count: event.count,
          first_seen: event.time,
          last_seen: event.time,
          samples: [sample],
          fields: event.fields ?? {},
          status: "new",
          fix_ids: [],
          fixed_at: [],
          regressions: 0,
          history: [{ at: now, from: null, to: "new" }],
        };
        transitions.push({ from: null, to: "new" });
        applyTransition(inc, "analyzing", undefined, now, transitions);
        decision = { created: true, analyze: true, transitions };
        return inc;
      }
      const inc: Incident = structuredClone(cur);
      if (count) {
        inc.count += event.count;
        if (!inc.hosts.includes(event.host)) inc.hosts.push(event.host);
        if (!inc.client_ids.includes(event.client_id)) inc.client_ids.push(event.client_id);
        if (event.time > inc.last_seen) inc.last_seen = event.time;
        if (event.time < inc.first_seen) inc.first_seen = event.time;
        if (inc.samples.length < MAX_SAMPLES && !inc.samples.includes(sample)) inc.samples.push(sample);
        if (SEVERITY_ORDER[event.severity] > SEVERITY_ORDER[inc.severity]) inc.severity = event.severity;
        inc.template = input.template;
      }
      let analyze = false;
      if (inc.status === "fixed" && count) {
        const since = Date.now() - input.loopGuard.windowMinutes * 60_000;
        const recent = (inc.fixed_at ?? []).filter((t) => Date.parse(t) >= since).length;
        if (recent >= input.loopGuard.maxFixes) {
          applyTransition(
            inc,
            "needs_human",
            `loop guard: the error came back after ${recent} fixes within ${input.loopGuard.windowMinutes} minutes; no more automatic fixes`,
            now,
            transitions,
          );
        } else {
          inc.regressions = (inc.regressions ?? 0) + 1;
          applyTransition(
            inc,
            "new",
            `regression: seen again on ${event.host} at ${event.time} after it was fixed`,
            now,
            transitions,
          );
          applyTransition(inc, "analyzing", undefined, now, transitions);
          analyze = true;
        }
      } else if (inc.status === "new") {
        applyTransition(inc, "analyzing", undefined, now, transitions);
        analyze = true;
      } else if (inc.status === "analyzing" && input.redelivered) {
        // The consumer that started this analysis died or failed (its entry came back through
        // claimIdle): take it over. Fix ids are stable per round, so a race makes one fix, not two.
        analyze = true;
      }
      if (!count && transitions.length === 0 && !analyze) return undefined;
      decision = { created: false, analyze, transitions };
      return inc;
    },
    { events: (next) => announcements(next, decision.transitions, decision.created ? event : undefined) },
  );
  const current = once.stored ?? (await broker.getRecord<Incident>("incident", input.incidentId));
  if (!current) throw new Error(`incident ${input.incidentId} vanished while being updated`);
  return { incident: current.value, version: current.version, counted: !once.alreadyMarked, ...decision };
}

export interface StatusChangeInput {
  /** Only apply while the incident is in this analysis round and one of these statuses. */
  round: number;
  from: readonly IncidentStatus[];
  to: Array<{ status: IncidentStatus; reason?: string }>;
  patch?: (inc: Incident) => void;
}

/** Move an incident along the status machine (guarded, so a stale worker cannot undo newer work). */
export async function changeStatus(
  broker: Broker,
  id: string,
  change: StatusChangeInput,
): Promise<Incident | null> {
  let transitions: Transition[] = [];
  const stored = await updateRecord<Incident>(
    broker,
    "incident",
    id,
    (cur) => {
      if (!cur || (cur.regressions ?? 0) !== change.round || !change.from.includes(cur.status))
        return undefined;
      const inc = structuredClone(cur);
      const now = new Date().toISOString();
      transitions = [];
      change.patch?.(inc);
      for (const t of change.to) applyTransition(inc, t.status, t.reason, now, transitions);
      return inc;
    },
    { events: (next) => announcements(next, transitions) },
  );
  return stored?.value ?? null;
}

/** The audit events of an incident change: written with the change, in the same broker step. */
function announcements(inc: Incident, transitions: Transition[], newEvent?: ErrorEvent): EventInput[] {
  const out: EventInput[] = [];
  if (newEvent) {
    // WebSocket `errors` subscribers see a new kind of error arrive (not every repeat of it).
    out.push({
      type: "error.new",
      channel: "errors",
      subject: newEvent.event_id,
      data: {
        incident_id: inc.incident_id,
        service: inc.service,
        host: newEvent.host,
        severity: inc.severity,
        pattern_id: inc.pattern_id,
        template: inc.template,
      },
    });
  }
  for (const t of transitions) {
    out.push({
      type: "incident.status",
      channel: "incidents",
      subject: inc.incident_id,
      data: {
        from: t.from,
        to: t.to,
        reason: t.reason,
        service: inc.service,
        severity: inc.severity,
        count: inc.count,
        hosts: inc.hosts,
      },
    });
  }
  return out;
}
