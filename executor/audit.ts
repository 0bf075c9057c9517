import { type EventInput, updateRecord } from "../broker/records.ts";
import type { Broker } from "../broker/types.ts";
import { redactDeep } from "../core/redact/index.ts";
import type { Fix, FixStatus, FixStep } from "../core/schemas/fix.ts";
import type { Incident, IncidentStatus } from "../core/schemas/incident.ts";

/**
 * Writes of a running fix. Every write is fenced: it lands only while the record's `run.token`
 * is still ours, so an executor that lost the fix (crashed and recovered by another) can never
 * write over the newer run. A lost fence throws FencedOut and the run stops at once.
 */
export class FencedOut extends Error {
  constructor(fixId: string) {
    super(`fix ${fixId} is owned by another run`);
    this.name = "FencedOut";
  }
}

export class FixAudit {
  constructor(
    private readonly broker: Broker,
    readonly fixId: string,
    readonly token: number,
  ) {}

  private async write(change: (f: Fix) => Fix, events?: (f: Fix) => EventInput[]): Promise<Fix> {
    const stored = await updateRecord<Fix>(
      this.broker,
      "fix",
      this.fixId,
      (cur) => (cur && cur.run?.token === this.token ? change(cur) : undefined),
      events ? { events } : {},
    );
    if (!stored) throw new FencedOut(this.fixId);
    return stored.value;
  }

  /**
   * A fenced write with no other change (updated_at): proves, right before a step on the host,
   * that the record still names this run. Throws FencedOut when another run has taken the fix.
   */
  async fence(): Promise<void> {
    await this.write((f) => ({ ...f, updated_at: new Date().toISOString() }));
  }

  /** Append a step (its output redacted) to the record and publish it as a `fix.step` event. */
  async step(raw: FixStep): Promise<void> {
    const step = redactDeep(raw).value;
    await this.write(
      (f) => ({ ...f, steps: [...(f.steps ?? []), step], updated_at: new Date().toISOString() }),
      () => [{ type: "fix.step", channel: "fixes", subject: this.fixId, data: { ...step } }],
    );
  }

  /** Record what an action is about to change (before it runs), with a `fix.intent` event. */
  async intend(change: NonNullable<Fix["changes"]>[number]): Promise<void> {
    await this.write(
      (f) => ({ ...f, changes: [...(f.changes ?? []), change], updated_at: new Date().toISOString() }),
      () => [{ type: "fix.intent", channel: "fixes", subject: this.fixId, data: { ...change } }],
    );
  }

  async status(status: FixStatus, reason: string, extra: Partial<Fix> = {}): Promise<Fix> {
    return await this.write(
      (f) => ({ ...f, ...extra, status, status_reason: reason, updated_at: new Date().toISOString() }),
      (fix) => [
        {
          type: "fix.status",
          channel: "fixes",
          subject: this.fixId,
          data: { status, reason, incident_id: fix.incident_id, executor: fix.run?.executor },
        },
      ],
    );
  }
}

/** Status change of a fix that is not (or no longer) running: no fence, only a version check. */
export async function setFixStatus(
  broker: Broker,
  fixId: string,
  from: FixStatus,
  status: FixStatus,
  reason: string,
): Promise<boolean> {
  const stored = await updateRecord<Fix>(
    broker,
    "fix",
    fixId,
    (cur) =>
      cur && cur.status === from
        ? { ...cur, status, status_reason: reason, updated_at: new Date().toISOString() }
        : undefined,
    {
      events: (f) => [
        {
          type: "fix.status",
          channel: "fixes",
          subject: fixId,
          data: { status, reason, incident_id: f.incident_id },
        },
      ],
    },
  );
  return stored !== null;
}

/** Mirror the fix's outcome on its incident (fixed_at feeds the analyzer's loop guard). */
export async function setIncidentStatus(
  broker: Broker,
  incidentId: string,
  to: IncidentStatus,
  reason: string,
): Promise<void> {
  const now = new Date().toISOString();
  let from: IncidentStatus | null = null;
  await updateRecord<Incident>(
    broker,
    "incident",
    incidentId,
    (cur) => {
      if (!cur) return undefined;
      from = cur.status;
      return {
        ...cur,
        status: to,
        status_reason: reason,
        fixed_at: to === "fixed" ? [...(cur.fixed_at ?? []), now] : cur.fixed_at,
        history: [...(cur.history ?? []), { at: now, from: cur.status, to, reason }],
      };
    },
    {
      events: () => [
        { type: "incident.status", channel: "incidents", subject: incidentId, data: { from, to, reason } },
      ],
    },
  );
}
