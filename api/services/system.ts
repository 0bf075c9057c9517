import { isPaused, publishEvent, setPaused, updateRecord } from "../../broker/records.ts";
import type { BrokerHealth } from "../../broker/types.ts";
import type { ClientRecord } from "../../core/schemas/client.ts";
import type { Incident } from "../../core/schemas/incident.ts";
import type { Principal } from "../auth.ts";
import type { ApiDeps, ComponentStatus } from "../deps.ts";
import { HttpError } from "../http-error.ts";
import { checkServices } from "./errors.ts";

/**
 * `GET /health`. Anonymous callers (load balancers, probes) get the status, version, uptime, broker
 * state and worker counts; a viewer token adds the detail: process, broker error, components with
 * their files, offsets and errors. `degraded` when a running component reports an error (it keeps
 * running and retrying), `unavailable` (503) only when the broker is down.
 */
export async function health(deps: ApiDeps, detailed: boolean) {
  const broker: BrokerHealth = await deps.broker
    .health()
    .catch((e) => ({ ok: false, kind: deps.broker.kind, state: "error", error: String(e) }));
  const components = deps.components();
  const degraded = degradedComponents(components);
  const workers: Record<string, number> = {};
  for (const [name, c] of Object.entries(components)) workers[name] = c.running ? (c.workers ?? 1) : 0;
  const summary = {
    status: !broker.ok ? "unavailable" : degraded.length > 0 ? "degraded" : "ok",
    version: deps.version,
    uptime_s: Math.round((Date.now() - deps.startedAt) / 1000),
    broker: { ok: broker.ok, state: broker.state },
    workers,
  };
  if (!detailed) return summary;
  return {
    ...summary,
    ...(degraded.length > 0 ? { degraded } : {}),
    process: { pid: process.pid, rss_bytes: process.memoryUsage().rss },
    broker,
    components,
  };
}

/**
 * Running components that report an error: `detail.last_error` (a component clears it when it
 * recovers), or a collector client that cannot reach the broker.
 */
function degradedComponents(components: Record<string, ComponentStatus>) {
  const out: Array<{ component: string; reason: string }> = [];
  for (const [name, c] of Object.entries(components)) {
    if (!c.running) continue;
    const d = c.detail ?? {};
    if (typeof d.last_error === "string" && d.last_error) out.push({ component: name, reason: d.last_error });
    const clients = Array.isArray(d.clients) ? (d.clients as Array<Record<string, unknown>>) : [];
    for (const cl of clients) {
      if (cl?.broker_down === true) {
        const why = typeof cl.last_error === "string" ? cl.last_error : "cannot reach the broker";
        out.push({ component: `${name}/${String(cl.client_id)}`, reason: why });
      }
    }
  }
  return out;
}

export async function status(deps: ApiDeps) {
  const [h, paused, incidents] = await Promise.all([
    health(deps, true),
    isPaused(deps.broker),
    deps.broker.listRecords<Incident>("incident"),
  ]);
  const byStatus: Record<string, number> = {};
  for (const { value } of incidents) byStatus[value.status] = (byStatus[value.status] ?? 0) + 1;
  return {
    ...h,
    versions: { mcpmon: deps.version, bun: Bun.version },
    paused,
    incidents_by_status: byStatus,
    claude: { enabled: Boolean(deps.config.claude_api_key), model: deps.config.claude.model },
    executor: {
      auto_approve_max_risk: deps.config.executor.auto_approve_max_risk,
      auto_approve_model_max_risk: deps.config.executor.auto_approve_model_max_risk,
      dry_run: deps.config.executor.dry_run,
    },
    mcp: { http: deps.config.mcp.enabled, allow_writes: deps.config.mcp.allow_writes },
  };
}

/** `GET /tokens/status`: the analyzers' token budget, or why there is none yet. */
export async function tokenStatus(deps: ApiDeps) {
  return (await deps.tokenStatus()) ?? { available: false, reason: "no analyzer has reported yet" };
}

export async function pause(deps: ApiDeps, who: Principal, paused: boolean) {
  await setPaused(deps.broker, paused);
  await publishEvent(deps.broker, {
    type: paused ? "processing.paused" : "processing.resumed",
    channel: "system",
    subject: "processing",
    data: { by: who.name },
  });
  return { paused };
}

export async function queuesStatus(deps: ApiDeps) {
  const k = deps.broker.keys;
  const streams = await Promise.all([k.errors, k.fixes, k.events, k.dlq].map((s) => deps.broker.stats(s)));
  return { streams, paused: await isPaused(deps.broker) };
}

export async function clearErrors(deps: ApiDeps, who: Principal, confirm: string | undefined) {
  if (confirm !== "yes" && confirm !== "true") {
    throw new HttpError(
      400,
      "confirmation_required",
      "clearing mcp:errors removes every queued error: repeat with ?confirm=yes",
    );
  }
  const removed = await deps.broker.clear(deps.broker.keys.errors);
  await publishEvent(deps.broker, {
    type: "queue.cleared",
    channel: "system",
    subject: deps.broker.keys.errors,
    data: { by: who.name, removed },
  });
  return { stream: deps.broker.keys.errors, removed };
}

export async function registerClient(
  deps: ApiDeps,
  body: { client_id: string; host: string; service_type: string },
) {
  checkServices(deps, [body.service_type], () => "body.service_type");
  const at = new Date().toISOString();
  const res = await updateRecord<ClientRecord>(deps.broker, "client", body.client_id, (cur) => ({
    v: 1,
    health: "unknown",
    files: [],
    lag_bytes: 0,
    spool_depth: 0,
    spool_bytes: 0,
    reading_paused: false,
    counters: {},
    ...(cur ?? {}),
    client_id: body.client_id,
    host: body.host,
    service_type: body.service_type,
    registered_at: cur?.registered_at ?? at,
  }));
  await publishEvent(deps.broker, {
    type: "client.registered",
    channel: "clients",
    subject: body.client_id,
    data: { host: body.host },
  });
  return res!.value;
}

export async function listClients(deps: ApiDeps) {
  const items = (await deps.broker.listRecords<ClientRecord>("client")).map((r) => r.value);
  return { total: items.length, items: items.sort((a, b) => a.client_id.localeCompare(b.client_id)) };
}

export async function clientStatus(deps: ApiDeps, id: string) {
  const rec = await deps.broker.getRecord<ClientRecord>("client", id);
  if (!rec) throw new HttpError(404, "not_found", `no client with id "${id}"`);
  const c = rec.value;
  const age = c.last_heartbeat ? Date.now() - Date.parse(c.last_heartbeat) : null;
  return {
    client_id: c.client_id,
    host: c.host,
    service_type: c.service_type,
    health: c.health,
    health_detail: c.health_detail,
    last_heartbeat: c.last_heartbeat ?? null,
    heartbeat_age_s: age === null ? null : Math.round(age / 1000),
    lag_bytes: c.lag_bytes,
    spool_depth: c.spool_depth,
    spool_bytes: c.spool_bytes,
    reading_paused: c.reading_paused,
    files: c.files,
    counters: c.counters,
    version: c.version,
  };
}

export async function deleteClient(deps: ApiDeps, id: string) {
  const removed = await deps.broker.deleteRecord("client", id);
  if (!removed) throw new HttpError(404, "not_found", `no client with id "${id}"`);
  await publishEvent(deps.broker, { type: "client.removed", channel: "clients", subject: id });
  return { client_id: id, removed: true };
}
